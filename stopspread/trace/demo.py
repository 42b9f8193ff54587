"""`stopspread demo`: the founding case, replayed with synthetic benign pictures.

A girl's photos were sent on by one account and forwarded from group to group, then re-uploaded
to a second platform; the police unit found who started it by following her social networks.
Here, three generated landscapes (never a person) stand in for the photos. The replay goes
through the service's own functions on an embedded SQLite database: the case is opened with the
fingerprints (made by the engine), two platforms check every copy (each copy a recompressed,
resized, cropped version of the one it was forwarded from) and report who uploaded it and, for
some, where it was forwarded from; the holder grants an investigator access; the investigator
traces the case, imports a chat export, and exports the evidence bundle, which is verified.
"""

from __future__ import annotations

import functools
import io
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from rich.console import Console
from sqlalchemy.orm import Session

from stopspread.media import load_luma
from stopspread.pipeline import hash_file
from stopspread.service import store
from stopspread.service.live_index import LiveIndex
from stopspread.service.security import Role
from stopspread.service.settings import Settings
from stopspread.signals import pdq_math
from stopspread.signals.types import PdqSignal
from stopspread.storage import make_engine, sessions, upgrade
from stopspread.storage.db import sqlite_url
from stopspread.trace import bundle, cases, keys

# (hours after the first post, platform, content id, uploader, picture, copied from, link reported)
# Picture 0..2 is the original; "copied from" is the content the copy was made from (a forward
# inside a platform, or a re-upload elsewhere); "link reported" says whether the platform knew it.
STORY: tuple[tuple[float, str, str, str | None, int, str | None, bool], ...] = (
    (0.0, "chatapp", "c-1001", "u-7f3a", 0, None, False),
    (0.6, "chatapp", "c-1002", "u-2b91", 0, "c-1001", True),
    (1.2, "chatapp", "c-1003", "u-9c44", 0, "c-1002", False),
    (11.4, "chatapp", "c-1004", "u-7f3a", 1, None, False),
    (12.1, "chatapp", "c-1005", "u-5d12", 1, "c-1004", True),
    (15.0, "chatapp", "c-1006", "u-2b91", 0, "c-1002", False),
    (22.7, "photoshare", "p-501", "p-ae01", 0, "c-1003", False),
    (23.5, "photoshare", "p-502", "p-33c0", 0, "p-501", True),
    (25.0, "photoshare", "p-503", "p-77d9", 0, "p-501", False),
    (26.2, "chatapp", "c-1007", "u-9c44", 1, "c-1005", False),
    (30.0, "photoshare", "p-504", "p-ae01", 1, "c-1007", False),
    (31.5, "photoshare", "p-505", "p-1e2f", 1, "p-504", True),
    (37.0, "chatapp", "c-1008", "u-4a60", 0, "c-1006", True),
    (49.0, "chatapp", "c-1009", "u-7f3a", 2, None, False),
    (49.8, "chatapp", "c-1010", "u-2b91", 2, "c-1009", True),
    (52.0, "photoshare", "p-506", None, 2, "c-1010", False),  # uploader unknown to the platform
    (60.5, "photoshare", "p-507", "p-33c0", 2, "p-506", False),
    (71.0, "photoshare", "p-508", "p-77d9", 0, "p-502", True),
)
FIRST_SHARER = "chatapp/u-7f3a"

CHAT = """12/03/2026, 20:41 - Desconocido: hola, te acuerdas de mí? nos conocimos en el grupo
12/03/2026, 20:43 - Víctima: no sé quién eres
12/03/2026, 20:47 - Desconocido: tengo tus fotos. si no me pasas 200 euros mañana
se las mando a todos tus contactos
12/03/2026, 20:48 - Víctima: por favor no
12/03/2026, 20:50 - Desconocido: <Multimedia omitido>
12/03/2026, 20:51 - Desconocido: tienes hasta mañana o las publico en el grupo del instituto
12/03/2026, 21:03 - Víctima: voy a avisar a la policía
"""


@dataclass
class DemoResult:
    data: Path
    case: str
    bundle: Path
    earliest_account: str | None
    verified: bool


def landscape(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """A generated landscape: sky gradient, sun, hills, texture. Nothing of a person."""
    rng = np.random.default_rng(seed)
    w, h = size
    sky = np.linspace(0, 1, h)[:, None, None]
    top, bottom = rng.uniform(60, 200, 3), rng.uniform(120, 255, 3)
    pixels = (top * (1 - sky) + bottom * sky).repeat(w, axis=1)
    pixels += rng.normal(0, 6, pixels.shape)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    cx, cy, r = rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.4) * h, rng.uniform(25, 60)
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=tuple(int(v) for v in rng.uniform(200, 255, 3)))
    for layer in range(3):
        base = h * (0.45 + 0.15 * layer)
        xs = np.linspace(0, w, 12)
        ys = base + rng.normal(0, h * 0.06, xs.size)
        colour = tuple(int(v) for v in rng.uniform(20, 140, 3))
        draw.polygon([(0, h), *zip(xs.tolist(), ys.tolist(), strict=True), (w, h)], fill=colour)
    for _ in range(40):
        x, y = rng.uniform(0, w), rng.uniform(0.5 * h, h)
        draw.rectangle(
            (x, y, x + rng.uniform(3, 14), y + rng.uniform(3, 14)),
            fill=tuple(int(v) for v in rng.uniform(0, 255, 3)),
        )
    return image.filter(ImageFilter.SMOOTH)


def forwarded(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """What a forward does to a picture: a slight crop, a resize, a JPEG recompression."""
    w, h = image.size
    dx, dy = int(rng.integers(0, max(2, w // 160))), int(rng.integers(0, max(2, h // 160)))
    cropped = image.crop((dx, dy, w - int(rng.integers(0, max(2, w // 160))), h - dy))
    scale = rng.uniform(0.85, 0.98)
    resized = cropped.resize((max(64, int(cropped.width * scale)), max(64, int(cropped.height * scale))))
    buffer = io.BytesIO()
    resized.convert("RGB").save(buffer, "JPEG", quality=int(rng.integers(55, 85)))
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def pdq_of(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    hashed, _quality = pdq_math.hash_image(load_luma(buffer.getvalue()).luma)
    return PdqSignal.to_hex(hashed)


def run(
    *, data: Path | None = None, output: Path | None = None, console: Console | None = None
) -> DemoResult:
    console = console or Console()
    say = functools.partial(console.print, soft_wrap=True)  # the story reads as lines, not a wrapped block
    data = data or Path(tempfile.mkdtemp(prefix="stopspread-demo-"))
    data.mkdir(parents=True, exist_ok=True)
    engine = make_engine(sqlite_url(data))
    upgrade(engine)
    factory = sessions(engine)
    settings = Settings(data=data)
    rng = np.random.default_rng(2024)
    try:
        originals = [landscape(seed) for seed in (11, 22, 33)]
        folder = data / "demo-originals"
        folder.mkdir(exist_ok=True)
        records = []
        for i, picture in enumerate(originals):
            path = folder / f"photo-{i + 1}.png"
            picture.save(path)
            records.append(hash_file(path, record_id=f"photo-{i + 1}"))
        say(
            "[bold]1. The case is opened.[/bold] A girl fingerprints three photos on her phone "
            "(here: generated"
        )
        say("   landscapes); only the fingerprints leave it.")
        with factory() as session:
            store.ensure_defaults(session)
            for name in ("chatapp", "photoshare"):
                store.create_platform(session, name=name)
            investigator, _secret = store.create_key(session, name="police-unit", role=Role.INVESTIGATOR)
            index = LiveIndex()
            index.load(session)
            case, _case_secret, _rows = store.open_case(session, records=records, index=index)
            session.commit()
            index.catch_up(session)
            platform_ids = {p.name: p.id for p in session.query(store.Platform)}
            number = case.number
            say(f"   Case [bold]{number}[/bold] holds {len(records)} fingerprints.")
            start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=4)
            _replay(session, index, settings, platform_ids, originals, rng, start)
            say(
                f"[bold]2. The pictures spread.[/bold] {len(STORY)} copies on chatapp and photoshare over "
                f"{STORY[-1][0] / 24:.0f} days; every copy was matched and blocked; "
                "the platforms reported who"
            )
            say("   uploaded it (pseudonymous ids) and, for some, which content it was forwarded from.")

            grant = store.grant(
                session, case=case, investigator_key_id=investigator.id, days=30, granted_by=f"case:{number}"
            )
            session.commit()
            say(
                "[bold]3. Access.[/bold] The case holder grants the police unit "
                f"(key {investigator.id}) 30 days."
            )

            store.granted_case(session, number=number, key=investigator)
            chat = cases.import_chat(
                session,
                case=case,
                data=CHAT.encode(),
                file_name="WhatsApp Chat - Desconocido.txt",
                actor=f"key:{investigator.id}",
            )
            session.commit()
            risk = chat.risk
            trace = cases.trace(session, case=case, actor=f"key:{investigator.id}").to_json()
            session.commit()
            _narrate(say, trace, chat.sha256, risk)

            key = keys.load_or_create(data)
            blob = cases.export(session, case=case, key=key, actor=f"key:{investigator.id}")
            session.commit()
            target = output or data / f"evidence-{number}.zip"
            target.write_bytes(blob)
            check = bundle.verify(blob, pinned=key.public_key())
            verdict = "[green]OK[/green]" if check.ok else "[red]FAILED[/red] " + "; ".join(check.problems)
            say(
                f"[bold]5. The evidence bundle[/bold] is written to {target} ({len(blob) // 1024} kB) "
                f"and verified offline: {verdict}"
            )
            say(
                f"   (signed with key {keys.key_id(key)}; grant {grant.id} expires "
                f"{grant.expires_at:%Y-%m-%d})"
            )
            say(f"   Data folder: {data}")
            earliest = (trace.get("earliest_sharer") or {}).get("account")
            return DemoResult(data, number, target, earliest, check.ok)
    finally:
        engine.dispose()


def _replay(
    session: Session,
    index: LiveIndex,
    settings: Settings,
    platform_ids: dict[str, int],
    originals: list[Image.Image],
    rng: np.random.Generator,
    start: datetime,
) -> None:
    pictures: dict[str, Image.Image] = {}
    for hours, platform, content, uploader, original, source, reported_link in STORY:
        parent = pictures.get(source) if source else None
        picture = forwarded(parent if parent is not None else originals[original], rng)
        pictures[content] = picture
        pdq = pdq_of(picture)
        hits = index.lookup(PdqSignal.to_array([pdq]))[0]
        verdicts = store.record_matches(
            session,
            platform_id=platform_ids[platform],
            queries=[(content, [("pdq", h) for h in hits])],
            settings=settings,
            query_pdq=[pdq],
        )
        if verdicts[0]:  # a platform may report what it did without knowing the uploader
            store.record_reports(
                session,
                platform_id=platform_ids[platform],
                reports=[
                    {
                        "match_id": verdicts[0][0].match_id,
                        "content_id": content,
                        "uploader": uploader,
                        "action": "Blocked",
                        "forwarded_from": source if reported_link else None,
                        "occurred_at": start + timedelta(hours=hours),
                    }
                ],
            )
        session.commit()


def _narrate(out: Callable[..., None], trace: dict[str, Any], sha256: str, risk_text: str) -> None:
    sharer = trace["earliest_sharer"] or {}
    edges = trace["edges"]
    explicit = sum(1 for e in edges if e["kind"] == "explicit")
    out(
        f"[bold]4. The investigation.[/bold] The trace links the copies: {explicit} forwards reported by the "
        f"platforms, {len(edges) - explicit} inferred from time and picture similarity."
    )
    out(
        f"   Earliest sharer: [bold red]{sharer.get('account')}[/bold red] on {sharer.get('platform')}, "
        f"{str(sharer.get('at'))[:16].replace('T', ' ')} UTC."
    )
    for original in trace["originals"]:
        intro = ", ".join(
            f"{p} by {i['account'] or 'an unreported account'}" for p, i in original["introducers"].items()
        )
        out(
            f"   Picture (fingerprint {original['original']}): {original['copies']} copies; "
            f"introduced to {intro}."
        )
    top = trace["top_spreaders"][0]
    out(f"   Spread most: {top['account']} (its copies led to {top['reach']} more).")
    risk = json.loads(risk_text)
    out(
        f"   The chat the girl handed over (sha256 {sha256[:16]}…) has {len(risk['flagged'])} threatening "
        f"message(s) from {risk.get('threatening_side')}: risk {risk['risk']}."
    )
