"""`stopspread case …`, `stopspread evidence …`, `stopspread admin revoke-grant` and `stopspread demo`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from stopspread.cli import app
from stopspread.trace.demo import FIRST_SHARER
from tests.trace.conftest import BACKENDS, Service, grant, spread
from tests.trace.test_api import CHAT

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_case_and_evidence_commands(service: Service, tmp_path: Path, database_url: str) -> None:
    number, secret = spread(service)
    grant_id = grant(service, number, secret)
    where = ["--data", str(tmp_path / "data"), "--database-url", database_url]

    code, out = invoke("case", "trace", number, "--json", *where)
    assert code == 0, out
    assert json.loads(out)["earliest_sharer"]["account"] == "chatapp/u-first"
    code, out = invoke("case", "trace", number, *where)
    assert code == 0 and "chatapp/u-first" in out and "Top spreaders" in out

    chat = tmp_path / "WhatsApp Chat.txt"
    chat.write_text(CHAT, encoding="utf-8")
    code, out = invoke("case", "import-chat", number, str(chat), *where)
    assert code == 0 and "Desconocido" in out, out

    code, out = invoke("case", "grants", number, *where)
    assert code == 0 and "case:" in out
    code, out = invoke("admin", "revoke-grant", number, str(grant_id), *where)
    assert code == 0, out
    assert (
        service.client.get(
            f"/v1/investigations/cases/{number}/trace", headers=service.auth("investigator")
        ).status_code
        == 403
    )

    code, out = invoke("evidence", "checkpoint", *where)
    assert code == 0 and number in out
    public = tmp_path / "public.pem"
    assert invoke("evidence", "public-key", "-o", str(public), "--data", str(tmp_path / "data"))[0] == 0
    code, out = invoke("evidence", "verify", "--json", *where)
    assert code == 0, out
    assert json.loads(out)["checked"][0]["entries"] == 11

    bundle = tmp_path / "bundle.zip"
    code, out = invoke("evidence", "export", number, "-o", str(bundle), *where)
    assert code == 0 and bundle.exists(), out
    code, out = invoke("evidence", "verify", str(bundle), "--key", str(public))
    assert code == 0 and "OK" in out, out
    damaged = tmp_path / "damaged.zip"
    data = bytearray(bundle.read_bytes())
    data[len(data) // 3] ^= 0x20
    damaged.write_bytes(bytes(data))
    code, out = invoke("evidence", "verify", str(damaged))
    assert code == 1 and "TAMPERED" in out

    with service.state.sessions() as session:  # someone with database access edits a report entry
        if session.get_bind().dialect.name == "sqlite":
            session.execute(text("DROP TRIGGER evidence_log_no_update"))
        else:
            session.execute(text("ALTER TABLE evidence_log DISABLE TRIGGER evidence_log_append_only"))
        session.execute(text("UPDATE evidence_log SET entry = replace(entry, 'u-second', 'u-other')"))
        session.commit()
    code, out = invoke("evidence", "verify", "--case", number, *where)
    assert code == 1 and "edited" in out, out


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    bundle = tmp_path / "evidence.zip"
    code, out = invoke("demo", "--data", str(tmp_path / "demo"), "-o", str(bundle))
    assert code == 0, out
    assert f"Earliest sharer: {FIRST_SHARER}" in out
    assert "verified offline: OK" in out
    code, out = invoke("evidence", "verify", str(bundle))
    assert code == 0, out
    code, out = invoke("evidence", "verify", "--data", str(tmp_path / "demo"))
    assert code == 0 and "OK" in out, out
