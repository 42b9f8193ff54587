"""Investigations through the service: the event log written with matches and reports, access
control of the investigator routes, the trace, chats, bundles, and tampering found in the database."""

from __future__ import annotations

import io
import itertools
import json
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text, update

from stopspread.storage.models import AuditEntry, EvidenceEntry, Grant
from stopspread.trace import bundle
from tests.trace.conftest import BACKENDS, Service, grant, random_pdq, spread

pytestmark = pytest.mark.parametrize("database_url", BACKENDS, indirect=True)

CHAT = (
    "12/03/2026, 20:41 - Desconocido: hola, te acuerdas de mí?\n"
    "12/03/2026, 20:47 - Desconocido: tengo tus fotos. si no me pasas 200 euros mañana se las mando a todos "
    "tus contactos\n"
    "12/03/2026, 20:48 - Ana: por favor no\n"
    "12/03/2026, 20:50 - Desconocido: <Multimedia omitido>\n"
)


def audit_actions(service: Service) -> list[str]:
    with service.state.sessions() as session:
        return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def test_matches_and_reports_are_chained_events_of_their_case(service: Service) -> None:
    number, _ = spread(service)
    with service.state.sessions() as session:
        rows = session.scalars(select(EvidenceEntry).order_by(EvidenceEntry.seq)).all()
        assert [r.kind for r in rows] == ["match", "report"] * 5
        assert [r.case_seq for r in rows] == list(range(1, 11))
        assert all(r.prev_hash == p.hash for p, r in itertools.pairwise(rows))
        first = json.loads(rows[0].entry)
        assert first["case"] == number and first["body"]["query_pdq"]
        # The log is append-only in the database itself.
        with pytest.raises(Exception, match="append-only"):
            session.execute(update(EvidenceEntry).values(kind="report"))
            session.flush()


def test_investigator_access_no_grant_expired_revoked_and_audited(service: Service) -> None:
    number, secret = spread(service)
    url = f"/v1/investigations/cases/{number}/trace"
    investigator = service.auth("investigator")
    assert service.client.get(url, headers=investigator).status_code == 403
    assert service.client.get(url, headers=service.auth("reviewer")).status_code == 403
    assert service.client.get(url).status_code == 401

    grant_id = grant(service, number, secret)
    assert service.client.get(url, headers=investigator).status_code == 200

    with service.state.sessions() as session:  # time passes: the grant expires
        session.execute(
            update(Grant)
            .where(Grant.id == grant_id)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        session.commit()
    assert service.client.get(url, headers=investigator).status_code == 403

    second = grant(service, number, secret)
    assert service.client.get(url, headers=investigator).status_code == 200
    revoked = service.client.delete(f"/v1/cases/{number}/grants/{second}", headers=secret)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    for route in ("/trace", "/events", "/bundle", "/verify", "/chats"):
        assert (
            service.client.get(f"/v1/investigations/cases/{number}{route}", headers=investigator).status_code
            == 403
        )
    # Only the holder revokes her grants.
    assert service.client.delete(f"/v1/cases/{number}/grants/{second}").status_code == 401

    actions = audit_actions(service)
    assert actions.count("grant.create") == 2 and "grant.revoke" in actions
    assert actions.count("case.trace.read") == 2
    assert actions.count("case.access.denied") >= 7


def test_trace_finds_earliest_sharer_introducers_and_is_signed(service: Service) -> None:
    number, secret = spread(service)
    grant(service, number, secret)
    body = service.client.get(
        f"/v1/investigations/cases/{number}/trace", headers=service.auth("investigator")
    ).json()
    assert body["earliest_sharer"]["account"] == "chatapp/u-first"
    introducers = body["originals"][0]["introducers"]
    assert introducers["chatapp"]["account"] == "chatapp/u-first"
    assert introducers["photoshare"]["account"] == "photoshare/p-intro"
    kinds = {(e["source"], e["target"]): e["kind"] for e in body["edges"]}
    assert kinds[("chatapp:c1", "chatapp:c2")] == "explicit"
    assert kinds[("photoshare:p1", "photoshare:p2")] == "explicit"
    assert kinds[("chatapp:c2", "chatapp:c3")] == "inferred"  # nearest earlier copy by PDQ
    assert len(body["nodes"]) == 5 and len(body["edges"]) == 4
    assert json.loads(body["checkpoint"]["statement"])["count"] == 10
    # An administrator may read any case.
    assert (
        service.client.get(
            f"/v1/investigations/cases/{number}/trace", headers=service.auth("admin")
        ).status_code
        == 200
    )


def test_chat_import_bundle_and_verification(service: Service) -> None:
    number, secret = spread(service)
    grant(service, number, secret)
    investigator = service.auth("investigator")
    imported = service.client.post(
        f"/v1/investigations/cases/{number}/chats",
        content=CHAT.encode(),
        headers={**investigator, "content-type": "text/plain; charset=utf-8", "x-file-name": "chat.txt"},
    )
    assert imported.status_code == 201, imported.text
    assert imported.json()["risk"]["threatening_side"] == "Desconocido"
    assert 1 in imported.json()["risk"]["flagged"]
    chats = service.client.get(f"/v1/investigations/cases/{number}/chats", headers=investigator).json()
    flagged = [m for m in chats[0]["all_messages"] if m["label"] == "sextortion"]
    assert [m["index"] for m in flagged] == [1] and flagged[0]["category"]
    rejected = service.client.post(
        f"/v1/investigations/cases/{number}/chats",
        content=b"not a chat",
        headers={**investigator, "content-type": "text/plain"},
    )
    assert rejected.status_code == 422

    verified = service.client.get(f"/v1/investigations/cases/{number}/verify", headers=investigator).json()
    assert verified["ok"], verified["problems"]
    assert verified["entries"] == 11

    response = service.client.get(f"/v1/investigations/cases/{number}/bundle", headers=investigator)
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    check = bundle.verify(response.content)
    assert check.ok, check.problems
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        names = archive.namelist()
        events = json.loads(archive.read("events.json"))
        vics = json.loads(archive.read("media-vics.json"))
        report = archive.read("report.html").decode()
    assert names[-2:] == ["manifest.json", "manifest.sig"]
    assert events["entries"][-1]["hash"] == verified["head"]
    assert json.loads(events["entries"][-1]["entry"])["kind"] == "chat"
    assert vics["value"][0]["AlternativeHashes"][0]["HashName"] == "PDQ"
    assert "chatapp/u-first" in report and "Chain of custody" in report
    assert "case.export" in audit_actions(service)


def _disable_append_only(session, table: str) -> None:  # type: ignore[no-untyped-def]
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text(f"DROP TRIGGER {table}_no_update"))
        session.execute(text(f"DROP TRIGGER {table}_no_delete"))
    else:
        session.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only"))


@pytest.mark.parametrize("tamper", ["edit", "delete", "reorder", "edit-report"])
def test_tampering_in_the_database_is_found(service: Service, tamper: str) -> None:
    number, secret = spread(service)
    grant(service, number, secret)
    investigator = service.auth("investigator")
    url = f"/v1/investigations/cases/{number}/verify"
    assert service.client.get(url, headers=investigator).json()["ok"]
    with service.state.sessions() as session:
        _disable_append_only(session, "evidence_log")
        rows = session.scalars(select(EvidenceEntry).order_by(EvidenceEntry.case_seq)).all()
        if tamper == "edit":
            rows[3].entry = rows[3].entry.replace("u-second", "u-someone")
        elif tamper == "delete":
            session.delete(rows[4])
        elif tamper == "reorder":
            a, b = rows[2], rows[4]
            a.entry, b.entry, a.hash, b.hash, a.prev_hash, b.prev_hash = (
                b.entry,
                a.entry,
                b.hash,
                a.hash,
                b.prev_hash,
                a.prev_hash,
            )
        else:
            session.execute(text("UPDATE reports SET uploader = 'u-framed' WHERE content_id = 'c1'"))
        session.commit()
    result = service.client.get(url, headers=investigator).json()
    assert not result["ok"] and result["problems"]


def test_unrelated_cases_have_their_own_chains(service: Service) -> None:
    first, _ = spread(service)
    pdq = random_pdq()
    second, _, _ = service.open_case(pdq)
    service.lookup(pdq, content="other")
    with service.state.sessions() as session:
        rows = session.execute(
            select(EvidenceEntry.case_id, EvidenceEntry.case_seq).order_by(EvidenceEntry.seq)
        ).all()
    assert [s for _, s in rows][-1] == 1  # the second case's chain starts afresh
    assert first != second
