"""`stopspread serve` and `stopspread admin …`: run the service, manage lists, platforms and keys."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from stopspread.listio import FORMATS, read_records, write_records
from stopspread.records import ListFormatError, ListRecord, record_from_json
from stopspread.service import store
from stopspread.service.live_index import LiveIndex
from stopspread.service.problems import Problem
from stopspread.service.security import Role
from stopspread.service.settings import Settings
from stopspread.storage import make_engine, sessions, upgrade
from stopspread.storage.models import ApiKey, Platform

out = Console()
err = Console(stderr=True)

DataOption = Annotated[
    Path, typer.Option("--data", help="Data folder (embedded SQLite database, index snapshot).")
]
UrlOption = Annotated[
    str,
    typer.Option("--database-url", envvar="STOPSPREAD_DATABASE_URL", help="SQLAlchemy URL, e.g. PostgreSQL."),
]

admin = typer.Typer(
    help="Manage lists, platforms, keys and grants (run on the server).", no_args_is_help=True
)


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    data: DataOption = Path("stopspread-data"),
    database_url: UrlOption = "",
    workers: Annotated[
        int, typer.Option(help="Worker processes; each follows the database's change log.")
    ] = 1,
) -> None:
    """Run the hash-list service (victims' cases, platform matching, review, investigations)."""
    import os

    import uvicorn

    os.environ["STOPSPREAD_DATA"] = str(data)
    if database_url:
        os.environ["STOPSPREAD_DATABASE_URL"] = database_url
    # Migrate once before the workers start, so they do not race on the schema.
    engine = make_engine(Settings().url())
    upgrade(engine)
    engine.dispose()
    uvicorn.run(
        "stopspread.service.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        access_log=False,
    )


@contextmanager
def _session(data: Path, database_url: str) -> Iterator[Session]:
    settings = Settings(data=data, database_url=database_url)
    engine = make_engine(settings.url())
    upgrade(engine)
    try:
        with sessions(engine)() as session:
            store.ensure_defaults(session)
            yield session
    except Problem as exc:
        err.print(f"[red]{exc.title}[/red]{': ' + exc.detail if exc.detail else ''}")
        raise typer.Exit(1) from None
    finally:
        engine.dispose()


@admin.command("create-list")
def create_list(
    name: str,
    kind: Annotated[str, typer.Option(help="curated | negative | cases")] = "curated",
    action: Annotated[str, typer.Option(help="block | review")] = "review",
    threshold: Annotated[int, typer.Option(help="PDQ bits")] = 31,
    data: DataOption = Path("stopspread-data"),
    database_url: UrlOption = "",
) -> None:
    with _session(data, database_url) as session:
        store.create_list(session, name=name, kind=kind, action=action, threshold=threshold)
        store.audit(session, actor="cli", action="list.create", list=name, kind=kind)
        session.commit()
    out.print(f"list {name} created ({kind}, {action}, threshold {threshold})")


@admin.command("create-platform")
def create_platform(
    name: str,
    trusted: Annotated[bool, typer.Option(help="May download the list to match locally.")] = False,
    data: DataOption = Path("stopspread-data"),
    database_url: UrlOption = "",
) -> None:
    with _session(data, database_url) as session:
        store.create_platform(session, name=name, trusted=trusted)
        store.audit(session, actor="cli", action="platform.create", platform=name, trusted=trusted)
        session.commit()
    out.print(f"platform {name} created")


@admin.command("create-key")
def create_key(
    name: str,
    role: Annotated[Role, typer.Option(help="platform | reviewer | investigator | admin")],
    platform: Annotated[str | None, typer.Option(help="The platform a platform key belongs to.")] = None,
    data: DataOption = Path("stopspread-data"),
    database_url: UrlOption = "",
) -> None:
    """Create an API key. It is printed once (standard output, alone on its line) and stored hashed."""
    with _session(data, database_url) as session:
        key, secret = store.create_key(session, name=name, role=role, platform=platform)
        store.audit(session, actor="cli", action="key.create", key_id=key.id, role=role.value)
        session.commit()
        err.print(f"key {key.id} ({role.value}) created; it is shown once, keep it safe:")
    print(secret)


@admin.command("revoke-key")
def revoke_key(key_id: int, data: DataOption = Path("stopspread-data"), database_url: UrlOption = "") -> None:
    with _session(data, database_url) as session:
        store.revoke_key(session, key_id=key_id)
        store.audit(session, actor="cli", action="key.revoke", key_id=key_id)
        session.commit()
    out.print(f"key {key_id} revoked")


@admin.command("keys")
def list_keys(data: DataOption = Path("stopspread-data"), database_url: UrlOption = "") -> None:
    with _session(data, database_url) as session:
        table = Table("id", "name", "role", "platform", "prefix", "revoked")
        for key, platform in session.execute(
            select(ApiKey, Platform.name)
            .outerjoin(Platform, Platform.id == ApiKey.platform_id)
            .order_by(ApiKey.id)
        ):
            table.add_row(
                str(key.id),
                key.name,
                key.role,
                platform or "",
                key.prefix + "…",
                "yes" if key.revoked_at else "",
            )
    out.print(table)


@admin.command("grant")
def grant(
    case_number: str,
    investigator: Annotated[int, typer.Option(help="The investigator's key id.")],
    days: Annotated[int, typer.Option(help="How long the access lasts.")] = 90,
    data: DataOption = Path("stopspread-data"),
    database_url: UrlOption = "",
) -> None:
    """Give an investigator access to a case (the case holder can do it too, with her secret)."""
    with _session(data, database_url) as session:
        case = session.scalar(select(store.Case).where(store.Case.number == case_number))
        if case is None:
            err.print(f"[red]no case {case_number}[/red]")
            raise typer.Exit(1)
        row = store.grant(
            session, case=case, investigator_key_id=investigator, days=days, granted_by="admin:cli"
        )
        session.commit()
        out.print(
            f"grant {row.id}: key {investigator} may read case {case_number} until {row.expires_at:%Y-%m-%d}"
        )


@admin.command("revoke-grant")
def revoke_grant(
    case_number: str, grant_id: int, data: DataOption = Path("stopspread-data"), database_url: UrlOption = ""
) -> None:
    """End an investigator's access to a case now (``stopspread case grants CASE`` lists them)."""
    from stopspread.trace import cases

    with _session(data, database_url) as session:
        case = cases.find_case(session, case_number)
        cases.revoke_grant(session, case=case, grant_id=grant_id, revoked_by="admin:cli")
        session.commit()
    out.print(f"grant {grant_id} of case {case_number} revoked")


FormatOption = Annotated[
    str | None, typer.Option("--format", help=f"One of {', '.join(FORMATS)} (default: from the file).")
]


@admin.command("import")
def import_list(
    path: Path,
    into: Annotated[str, typer.Option("--list", help="Target list (curated or negative).")],
    format: FormatOption = None,
    data: DataOption = Path("stopspread-data"),
    database_url: UrlOption = "",
) -> None:
    """Import a list (stopspread JSONL, HMA/ThreatExchange CSV or JSONL, pdq CSV, VICS), all or nothing."""
    try:
        records = list(read_records(path, format))
    except ListFormatError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(3) from None
    with _session(data, database_url) as session:
        hash_list = store.get_list(session, into)
        index = LiveIndex()
        index.load(session)
        rows = store.add_fingerprints(session, hash_list=hash_list, records=records, index=index)
        store.audit(
            session, actor="cli", action="list.import", list=into, fingerprints=len(rows), source=path.name
        )
        session.commit()
    out.print(f"{len(rows)} fingerprints imported into {into}")


@admin.command("export")
def export_list(
    name: str,
    output: Annotated[Path, typer.Option("--output", "-o")],
    format: Annotated[str, typer.Option("--format", help=f"One of {', '.join(FORMATS)}.")] = "stopspread",
    data: DataOption = Path("stopspread-data"),
    database_url: UrlOption = "",
) -> None:
    """Export a list's active fingerprints; ids are opaque (``fp-<number>``), never the case."""
    with _session(data, database_url) as session:
        hash_list = store.get_list(session, name)
        rows = session.scalars(
            select(store.Fingerprint).where(
                store.Fingerprint.list_id == hash_list.id, store.Fingerprint.status == "active"
            )
        )
        records: list[ListRecord] = [
            record_from_json({**json.loads(fp.record), "id": f"fp-{fp.id}"}) for fp in rows
        ]
        count = write_records(records, output, format)
        store.audit(session, actor="cli", action="list.export", list=name, fingerprints=count, format=format)
        session.commit()
    out.print(f"{count} fingerprints written to {output}")
