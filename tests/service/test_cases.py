"""Victims and guardians: open a case, see it, add, withdraw, grant access."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from stopspread.storage.models import AuditEntry, Case
from tests.service.conftest import BACKENDS, Service, near, random_pdq

pytestmark = pytest.mark.parametrize("database_url", BACKENDS, indirect=True)


def test_case_lifecycle_and_withdrawal_stops_matching_at_once(service: Service) -> None:
    first, second = random_pdq(), random_pdq()
    number, secret, ids = service.open_case(first, second)
    assert len(ids) == 2

    assert service.lookup(near(first, 10))[0]["matched"]
    view = service.client.get(f"/v1/cases/{number}", headers=secret).json()
    assert (view["active"], view["withdrawn"]) == (2, 0)

    withdrawn = service.client.post(
        f"/v1/cases/{number}/withdraw", json={"fingerprint_ids": [ids[0]]}, headers=secret
    )
    assert withdrawn.json() == {"changed": 1}
    # The very next request no longer matches the withdrawn one; the other still does.
    results = service.lookup(first, second)
    assert [r["matched"] for r in results] == [False, True]

    service.client.post(f"/v1/cases/{number}/withdraw", headers=secret)
    assert not service.lookup(second)[0]["matched"]
    view = service.client.get(f"/v1/cases/{number}", headers=secret).json()
    assert (view["active"], view["withdrawn"]) == (0, 2)


def test_added_fingerprints_match(service: Service) -> None:
    number, secret, _ = service.open_case(random_pdq())
    later = random_pdq()
    assert not service.lookup(later)[0]["matched"]
    added = service.client.post(
        f"/v1/cases/{number}/fingerprints", json={"fingerprints": [{"pdq": later}]}, headers=secret
    )
    assert added.status_code == 201
    assert service.lookup(later)[0]["matched"]


def test_blocked_copies_are_counted_from_platform_reports(service: Service) -> None:
    pdq = random_pdq()
    number, secret, _ = service.open_case(pdq)
    for content in ("c1", "c2", "c2"):
        match_id = service.lookup(pdq, content=content)[0]["matches"][0]["match_id"]
        response = service.client.post(
            "/v1/reports",
            json={"reports": [{"content_id": content, "action": "Blocked", "match_id": match_id}]},
            headers=service.auth("platform"),
        )
        assert response.status_code == 201
    assert service.client.get(f"/v1/cases/{number}", headers=secret).json()["blocked_copies"] == 2


def test_wrong_secret_and_unknown_case_look_the_same(service: Service) -> None:
    number, _, _ = service.open_case(random_pdq())
    wrong = service.client.get(f"/v1/cases/{number}", headers={"Authorization": "Bearer nope"})
    unknown = service.client.get("/v1/cases/SS-AAAAA-AAAAA", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.headers["content-type"] == "application/problem+json"


def test_secret_is_random_shown_once_and_stored_only_hashed(service: Service) -> None:
    response = service.client.post("/v1/cases", json={"fingerprints": [{"pdq": random_pdq()}]})
    secret = response.json()["secret"]
    assert len(secret) >= 22  # 160 bits in URL-safe base64
    with service.state.sessions() as session:
        case = session.scalar(select(Case))
        assert case is not None and secret not in case.secret_hash
        dump = " ".join(str(v) for row in session.execute(text("SELECT * FROM cases")) for v in row)
        assert secret not in dump
    again = service.client.get(f"/v1/cases/{case.number}", headers={"Authorization": f"Bearer {secret}"})
    assert "secret" not in again.json()


def test_every_read_of_a_case_is_audited(service: Service) -> None:
    number, secret, _ = service.open_case(random_pdq())
    for _ in range(3):
        service.client.get(f"/v1/cases/{number}", headers=secret)
    with service.state.sessions() as session:
        reads = session.scalars(select(AuditEntry).where(AuditEntry.action == "case.read")).all()
    assert len(reads) == 3 and all(r.actor == f"case:{number}" for r in reads)


def test_invalid_fingerprint_changes_nothing(service: Service) -> None:
    response = service.client.post(
        "/v1/cases", json={"fingerprints": [{"pdq": random_pdq()}, {"pdq": "not-a-hash"}]}
    )
    assert response.status_code == 422
    assert response.json()["index"] == 1
    with service.state.sessions() as session:
        assert session.scalar(select(Case)) is None


def test_the_holder_grants_an_investigator(service: Service) -> None:
    pdq = random_pdq()
    number, secret, _ = service.open_case(pdq)
    service.lookup(pdq, content="upload-9")
    events_url = f"/v1/investigations/cases/{number}/events"
    assert service.client.get(events_url, headers=service.auth("investigator")).status_code == 403
    granted = service.client.post(
        f"/v1/cases/{number}/grants",
        json={"investigator_key_id": service.key_ids["investigator"], "days": 30},
        headers=secret,
    )
    assert granted.status_code == 201
    events = service.client.get(events_url, headers=service.auth("investigator")).json()
    assert [m["content_id"] for m in events["matches"]] == ["upload-9"]
    assert events["matches"][0]["platform"] == "chatapp"
    with service.state.sessions() as session:
        actions = [a.action for a in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert "case.access.denied" in actions and "grant.create" in actions and "case.events.read" in actions
