"""The victim's page in headless Chromium: speed, agreement with the engine, and recall of its lists.

    python benchmarks/bench_web.py speed [--markdown benchmarks/results/web.md]
    python benchmarks/bench_web.py agreement [--media ../shared/data/media]
    python benchmarks/bench_web.py recall --data DATA   (DATA from benchmarks/make_dataset.py)

speed: a 12-MP photo (a shared photo upscaled to 4032x3024, JPEG q90) and a one-minute 720p
H.264 video (pans over shared photos, made with PyAV) are fingerprinted in the page by the
same function its file picker calls; each is timed in the page from the File to the record
(median of 5 and 3 runs after one warm-up).

agreement: every shared photo and video fingerprinted in the page beside `stopspread hash`:
PDQ bits between the page's and the engine's whole-picture hashes, whether both find a picture
inside a screenshot, and video frames against the engine's hash of the frame shown at the same
time.

recall: the quality benchmark's originals listed three ways, every query and unrelated file
checked once with the engine's query signals against each list: `stopspread hash` records,
the same records stripped of local features (what the page can send), and the records made by
the page itself in Chromium. A query is found when its own original is among its matches.

Debian's Chromium runs headless with the flags of tests/browser.py; nothing is downloaded.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stopspread.service.settings import Settings  # noqa: E402
from tests.browser import CHROMIUM, FLAGS  # noqa: E402
from tests.web.conftest import FINGERPRINT_JS, LiveServer, file_arg  # noqa: E402

TIMED_JS = """async ([name, type, b64, runs]) => {
  const m = await import('/web/fingerprint.js');
  const text = atob(b64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  const file = new File([bytes], name, { type });
  const times = [];
  let record = null;
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    record = await m.fingerprintFile(file);
    times.push(performance.now() - start);
  }
  return { times, record };
}"""


def _browser_session() -> Any:
    from playwright.sync_api import sync_playwright

    return sync_playwright()


def make_photo(source: Path, out: Path) -> Path:
    from PIL import Image

    Image.open(source).convert("RGB").resize((4032, 3024), Image.Resampling.LANCZOS).save(out, quality=90)
    return out


def make_video(sources: list[Path], out: Path, seconds: int = 60, fps: int = 30) -> Path:
    """A 1280x720 H.264 video of slow pans over photos, ``seconds`` long (6 s per photo)."""
    import av
    from PIL import Image

    with av.open(str(out), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "23"}
        per_photo = 6 * fps
        for n in range(seconds * fps):
            photo = Image.open(sources[(n // per_photo) % len(sources)]).convert("RGB").resize((1600, 1000))
            step = (n % per_photo) / per_photo
            x, y = round(320 * step), round(280 * step)
            frame = av.VideoFrame.from_image(photo.crop((x, y, x + 1280, y + 720)))
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out


def speed(args: argparse.Namespace) -> str:
    media = args.media
    photos = sorted((media / "images").glob("*.jpg"))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        photo = make_photo(photos[0], folder / "photo-12mp.jpg")
        video = make_video(photos[:10], folder / "video-60s-720p.mp4")
        with LiveServer(Settings(data=folder / "data")) as server, _browser_session() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
            page = browser.new_page()
            page.goto(f"{server.url}/")
            results = {}
            for path, runs in ((photo, 6), (video, 4)):
                out = page.evaluate(TIMED_JS, [*file_arg(path), runs])
                times = out["times"][1:]  # the first run compiles the code paths
                results[path.name] = (times, out["record"])
                print(f"{path.name}: {[round(t) for t in out['times']]} ms", file=sys.stderr)
            version = browser.version
            browser.close()
    photo_ms = statistics.median(results["photo-12mp.jpg"][0])
    video_ms = statistics.median(results["video-60s-720p.mp4"][0])
    frames = len(results["video-60s-720p.mp4"][1]["frames"])
    return "\n".join(
        [
            f"Command: `python benchmarks/bench_web.py speed --markdown {args.markdown or '-'}` "
            f"(headless Chromium {version}, this 2-core machine, shared with other work)",
            "",
            "| what | target | median in the page | runs |",
            "|---|---|---|---|",
            f"| 12-MP photo (4032x3024 JPEG) | < 1 s | {photo_ms / 1000:.2f} s | "
            f"{', '.join(f'{t / 1000:.2f}' for t in results['photo-12mp.jpg'][0])} |",
            f"| one-minute 720p H.264 video ({frames} frames sampled) | < 10 s | {video_ms / 1000:.2f} s | "
            f"{', '.join(f'{t / 1000:.2f}' for t in results['video-60s-720p.mp4'][0])} |",
            "",
        ]
    )


def browser_records(paths: list[Path]) -> list[dict]:
    """Records the page makes of ``paths`` (``{"record": …}`` or ``{"error": …}`` each)."""
    with (
        tempfile.TemporaryDirectory() as tmp,
        LiveServer(Settings(data=Path(tmp))) as server,
        _browser_session() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        page = browser.new_page()
        page.goto(f"{server.url}/")
        out = [page.evaluate(FINGERPRINT_JS, [file_arg(path)])[0] for path in paths]
        browser.close()
    return out


def _bits(a: str, b: str) -> int:
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def agreement(args: argparse.Namespace) -> str:
    from stopspread.pipeline import hash_file

    photos = sorted((args.media / "images").glob("*.jpg"))
    made = browser_records(photos)
    whole, regions_same, region_bits = [], 0, []
    for path, got in zip(photos, made, strict=True):
        mine, engine = got["record"], hash_file(path).to_json()
        whole.append(_bits(mine["pdq"], engine["pdq"]))
        regions_same += ("region" in mine) == ("region" in engine)
        if "region" in mine and "region" in engine:
            region_bits.append(_bits(mine["region"]["pdq"], engine["region"]["pdq"]))
    bits = np.array(whole)
    return "\n".join(
        [
            f"Photos: {len(bits)}; whole-picture PDQ bits page vs engine: max {bits.max()}, "
            f"mean {bits.mean():.2f}, "
            f"95th percentile {np.percentile(bits, 95):.0f}; over 31: {(bits > 31).sum()}.",
            f"Picture-inside-a-screenshot found by both or neither: {regions_same} / {len(bits)}; "
            f"PDQ bits where both found one: {region_bits}.",
        ]
    )


def recall(args: argparse.Namespace) -> str:
    from benchmarks.bench_quality import _load_manifest, evaluate
    from stopspread.matcher import Matcher
    from stopspread.pipeline import hash_file, query_file
    from stopspread.records import record_from_json

    manifest = _load_manifest(args.data)
    originals = [e for e in manifest if e["role"] == "original"]
    checked = [e for e in manifest if e["role"] in ("query", "unrelated")]
    start = time.perf_counter()
    made = browser_records([args.data / e["path"] for e in originals])
    page_seconds = time.perf_counter() - start
    lists = {"stopspread hash": Matcher(), "hash without local": Matcher(), "page (Chromium)": Matcher()}
    unreadable = 0
    for entry, got in zip(originals, made, strict=True):
        full = hash_file(args.data / entry["path"], entry["original"]).to_json()
        lists["stopspread hash"].add(record_from_json(full))
        stripped = {k: v for k, v in full.items() if k not in ("local", "interface", "md5", "sha256")}
        if "frames" in stripped:
            stripped["frames"] = [{k: v for k, v in f.items() if k != "local"} for f in stripped["frames"]]
        lists["hash without local"].add(record_from_json(stripped))
        if "record" in got:
            lists["page (Chromium)"].add(record_from_json({"id": entry["original"], **got["record"]}))
        else:
            unreadable += 1

    queries: dict[str, Any] = {}

    def signals(entry: dict) -> Any:
        if entry["path"] not in queries:
            queries[entry["path"]] = query_file(args.data / entry["path"])
        return queries[entry["path"]]

    def checker(matcher: Matcher) -> Any:
        def check(entry: dict) -> set[str]:
            kind, query, digests = signals(entry)
            found = matcher.match(kind, query, digests)
            return {m.id for m in found}

        return check

    results = {name: evaluate(checker(matcher), checked) for name, matcher in lists.items()}
    return _recall_table(results, unreadable, page_seconds, len(originals), args)


def _recall_table(
    results: dict, unreadable: int, seconds: float, originals: int, args: argparse.Namespace
) -> str:
    from benchmarks.bench_quality import _pct

    names = list(results)
    families = sorted({key for found, _, _ in results.values() for key in found})
    lines = [
        f"Command: `python benchmarks/bench_web.py recall --data {args.data}`",
        f"({originals} originals fingerprinted by the page in {seconds:.0f} s, {unreadable} unreadable)",
        "",
        "| kind | family | n | " + " | ".join(names) + " |",
        "|---|---|---|" + "---|" * len(names),
    ]
    for kind, family in families:
        n = results[names[0]][0][(kind, family)][1]
        lines.append(
            f"| {kind} | {family} | {n} | "
            + " | ".join(_pct(results[m][0].get((kind, family))) for m in names)
            + " |"
        )
    for kind in ("image", "video"):
        cells = []
        for m in names:
            found = [v for (k, _), v in results[m][0].items() if k == kind]
            cells.append(f"**{_pct([sum(c[0] for c in found), sum(c[1] for c in found)])}**")
        lines.append(f"| {kind} | **all families** | | " + " | ".join(cells) + " |")
    for kind in ("image", "video"):
        cells = [
            f"{results[m][1].get(kind, [0, 0])[0]} / {results[m][1].get(kind, [0, 0])[1]}" for m in names
        ]
        lines.append(f"| {kind} | false matches (unrelated) | | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("what", choices=["speed", "agreement", "recall"])
    parser.add_argument("--media", type=Path, default=ROOT.parent / "shared" / "data" / "media")
    parser.add_argument("--data", type=Path, help="the quality benchmark's dataset (recall)")
    parser.add_argument("--markdown", type=Path, help="append the result to this file")
    args = parser.parse_args()
    if args.what == "recall" and not args.data:
        parser.error("recall needs --data")
    report = {"speed": speed, "agreement": agreement, "recall": recall}[args.what](args)
    print(report)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        with args.markdown.open("a") as handle:
            handle.write(report + "\n")


if __name__ == "__main__":
    main()
