"""`stopspread case …`, `stopspread evidence …` and `stopspread demo`: investigations on the server.

These run where the database is (like `stopspread admin`), as the deployment's operator: every
read of a case is audited with the actor ``cli``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from stopspread.service.cli import DataOption, UrlOption, _session
from stopspread.trace import bundle, cases, keys
from stopspread.trace import log as evidence_log

out = Console()
err = Console(stderr=True)

case = typer.Typer(help="Investigate a case: its spread graph, chats, grants.", no_args_is_help=True)
evidence = typer.Typer(
    help="The evidence log: checkpoints, verification, bundles for a court.", no_args_is_help=True
)

ACTOR = "cli"
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


def _when(text: str | None) -> str:
    return text.replace("T", " ")[:19] + " UTC" if text else "unknown"


@case.command("trace")
def trace_case(
    number: str,
    as_json: JsonOption = False,
    data: DataOption = Path("stopspread-data"),
    database_url: UrlOption = "",
) -> None:
    """The spread graph of a case: earliest sharer, who introduced it where, top spreaders, speed."""
    with _session(data, database_url) as session:
        result = cases.trace(session, case=cases.find_case(session, number), actor=ACTOR)
        session.commit()
    body = result.to_json()
    if as_json:
        sys.stdout.write(json.dumps(body, indent=1, ensure_ascii=False) + "\n")
        return
    print_trace(body, out)


def print_trace(body: dict[str, Any], console: Console) -> None:
    nodes = [n for n in body["nodes"] if n["observed"]]
    explicit = sum(1 for e in body["edges"] if e["kind"] == "explicit")
    console.print(
        f"[bold]Case {body['case']}[/bold]: {body['events']} events, {len(nodes)} copies on "
        f"{len({n['platform'] for n in nodes})} platform(s), {explicit} reported forwards, "
        f"{len(body['edges']) - explicit} inferred"
    )
    sharer = body["earliest_sharer"]
    if sharer:
        console.print(
            f"Earliest sharer: [bold red]{sharer['account']}[/bold red] on {sharer['platform']} at "
            f"{_when(sharer['at'])} (copy {sharer['node']})"
        )
    originals = Table("original", "earliest sighting", "introduced to each platform by", "copies", "speed")
    for o in body["originals"]:
        e = o["earliest"]
        intro = "\n".join(
            f"{p}: {i['account'] or '?'} at {_when(i['at'])}" for p, i in o["introducers"].items()
        )
        s = o["speed"]
        originals.add_row(
            f"fp {o['original']}",
            f"{e['account'] or '?'}\n{_when(e['at'])}",
            intro,
            str(o["copies"]),
            f"{s.get('copies_first_day', 0)} in 1st day; {s.get('hours', 0)} h",
        )
    console.print(originals)
    spreaders = Table("account", "uploads", "forwarded to", "reach", "first seen", title="Top spreaders")
    for s in body["top_spreaders"]:
        spreaders.add_row(
            s["account"], str(s["uploads"]), str(s["forwarded_to"]), str(s["reach"]), _when(s["first_seen"])
        )
    console.print(spreaders)
    for chat in body.get("chats", []):
        risk = chat.get("risk") or {}
        console.print(
            f"Chat {chat.get('file_name')} (sha256 {str(chat.get('sha256'))[:16]}…): risk "
            f"{risk.get('risk', chat.get('risk'))}, threatening side {risk.get('threatening_side')}"
        )


@case.command("import-chat")
def import_chat(
    number: str,
    chat: Annotated[Path, typer.Argument(help="The .txt of WhatsApp's 'Export chat'.")],
    data: DataOption = Path("stopspread-data"),
    database_url: UrlOption = "",
) -> None:
    """Import a WhatsApp chat export into a case; its SHA-256 becomes an event of the case's log."""
    raw = chat.read_bytes()
    with _session(data, database_url) as session:
        row = cases.import_chat(
            session, case=cases.find_case(session, number), data=raw, file_name=chat.name, actor=ACTOR
        )
        session.commit()
        risk = json.loads(row.risk)
    out.print(
        f"chat {row.id} imported: sha256 {row.sha256}; risk {risk['risk']}, "
        f"{len(risk['flagged'])} threatening message(s)"
        + (f", from {risk['threatening_side']}" if risk.get("threatening_side") else "")
    )


@case.command("grants")
def list_grants(
    number: str, data: DataOption = Path("stopspread-data"), database_url: UrlOption = ""
) -> None:
    """Who may read the case, until when."""
    with _session(data, database_url) as session:
        rows = cases.grants(session, case=cases.find_case(session, number))
    table = Table("grant", "investigator key", "granted by", "expires", "revoked")
    for g in rows:
        table.add_row(
            str(g["grant_id"]),
            f"{g['investigator_key_id']} ({g['investigator']})",
            g["granted_by"],
            g["expires_at"][:19],
            (g["revoked_at"] or "")[:19],
        )
    out.print(table)


@case.command("revoke-grant")
def revoke_grant(
    number: str, grant_id: int, data: DataOption = Path("stopspread-data"), database_url: UrlOption = ""
) -> None:
    """End an investigator's access to a case now."""
    with _session(data, database_url) as session:
        cases.revoke_grant(
            session, case=cases.find_case(session, number), grant_id=grant_id, revoked_by="admin:cli"
        )
        session.commit()
    out.print(f"grant {grant_id} of case {number} revoked")


# --- evidence --------------------------------------------------------------------------------

KeyFileOption = Annotated[
    Path | None,
    typer.Option(
        "--signing-key", help="Ed25519 private key (PEM); default: $STOPSPREAD_EVIDENCE_KEY or DATA/"
    ),
]


@evidence.command("export")
def export(
    number: str,
    output: Annotated[Path, typer.Option("--output", "-o", help="The bundle (.zip) to write.")],
    signing_key: KeyFileOption = None,
    data: DataOption = Path("stopspread-data"),
    database_url: UrlOption = "",
) -> None:
    """Write a case's evidence bundle: events, graph, VICS media list, chats, report, signed manifest."""
    key = keys.load_or_create(data, signing_key)
    with _session(data, database_url) as session:
        blob = cases.export(session, case=cases.find_case(session, number), key=key, actor=ACTOR)
        session.commit()
    output.write_bytes(blob)
    out.print(f"bundle of case {number} written to {output} ({len(blob)} bytes, key {keys.key_id(key)})")


@evidence.command("checkpoint")
def checkpoint(
    numbers: Annotated[
        list[str] | None, typer.Argument(help="Cases (default: every case with evidence).")
    ] = None,
    signing_key: KeyFileOption = None,
    data: DataOption = Path("stopspread-data"),
    database_url: UrlOption = "",
) -> None:
    """Sign the current head of cases' chains (run it from cron: an edit after it cannot be hidden)."""
    key = keys.load_or_create(data, signing_key)
    with _session(data, database_url) as session:
        targets = (
            [cases.find_case(session, n) for n in numbers]
            if numbers
            else evidence_log.cases_with_evidence(session)
        )
        for target in targets:
            signed = evidence_log.checkpoint(session, case=target, key=key)
            fields = signed.fields
            out.print(f"{target.number}: {fields['count']} entries, head {fields['head'][:16]}…")
        session.commit()


@evidence.command("public-key")
def public_key(
    output: Annotated[Path | None, typer.Option("--output", "-o")] = None,
    signing_key: KeyFileOption = None,
    data: DataOption = Path("stopspread-data"),
) -> None:
    """Print (or write) the deployment's public evidence key, to publish and pin."""
    pem = keys.public_pem(keys.load_or_create(data, signing_key))
    if output:
        output.write_text(pem)
        err.print(f"public key {keys.key_id(keys.load_public(pem))} written to {output}")
    else:
        sys.stdout.write(pem)


@evidence.command("verify")
def verify(
    bundle_path: Annotated[
        Path | None, typer.Argument(metavar="[BUNDLE]", help="A bundle (.zip) to check.")
    ] = None,
    number: Annotated[str | None, typer.Option("--case", help="Check one case in the database.")] = None,
    pinned: Annotated[
        Path | None, typer.Option("--key", help="Public key (PEM) the signatures must be made with.")
    ] = None,
    as_json: JsonOption = False,
    data: DataOption = Path("stopspread-data"),
    database_url: UrlOption = "",
) -> None:
    """Check a bundle offline, or the database's evidence log (every case, or --case): any edited,
    removed or reordered entry, or changed file, is reported. Exit status 1 when anything is wrong."""
    pinned_key = keys.load_public(pinned.read_bytes()) if pinned else None
    reports: list[dict[str, Any]] = []
    if bundle_path is not None:
        reports.append(bundle.verify(bundle_path.read_bytes(), pinned=pinned_key).to_json())
    else:
        public = pinned_key or keys.load_or_create(data).public_key()
        with _session(data, database_url) as session:
            targets = (
                [cases.find_case(session, number)] if number else evidence_log.cases_with_evidence(session)
            )
            for target in targets:
                reports.append(evidence_log.verify_case(session, case=target, public_key=public).to_json())
            session.commit()
    ok = all(r["ok"] for r in reports)
    if as_json:
        sys.stdout.write(json.dumps({"ok": ok, "checked": reports}, indent=1) + "\n")
    else:
        for r in reports:
            what = f"bundle {bundle_path}" if bundle_path else f"case {r['case']}"
            if r["ok"]:
                out.print(f"[green]OK[/green] {what}: {r['entries']} entries verified")
            else:
                out.print(f"[red]TAMPERED[/red] {what}:")
                for problem in r["problems"]:
                    out.print(f"  - {problem}")
        if not reports:
            out.print("no case has evidence yet")
    if not ok:
        raise typer.Exit(1)


def demo(
    data: Annotated[
        Path | None, typer.Option("--data", help="Data folder to keep (default: a temporary one).")
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Where to write the bundle.")] = None,
) -> None:
    """Replay the founding case with synthetic images: a case, two platforms, forwards over a few
    days, the investigator finds the earliest sharer and exports the evidence bundle."""
    from stopspread.trace.demo import run

    run(data=data, output=output, console=out)
