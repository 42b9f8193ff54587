"""Every route against every kind of caller: roles are enforced everywhere."""

from __future__ import annotations

import pytest

from stopspread.service import store
from tests.service.conftest import Service, random_pdq

PDQ = random_pdq()
CALLERS = ("anonymous", "platform", "trusted", "reviewer", "investigator", "admin", "revoked", "garbage")

# route -> callers that get through authentication and authorisation
ROUTES: list[tuple[str, str, dict | None, set[str]]] = [
    ("POST", "/v1/match", {"signals": [{"pdq": PDQ}]}, {"platform", "trusted"}),
    ("GET", f"/v1/match?pdq={PDQ}", None, {"platform", "trusted"}),
    (
        "POST",
        "/v1/reports",
        {"reports": [{"content_id": "c", "action": "NotBlocked"}]},
        {"platform", "trusted"},
    ),
    ("GET", "/v1/sync", None, {"trusted"}),  # an untrusted platform is refused by policy: 403
    ("GET", f"/m/lookup?signal_type=pdq&signal={PDQ}", None, {"platform", "trusted"}),
    ("GET", f"/m/raw_lookup?signal_type=pdq&signal={PDQ}", None, {"platform", "trusted"}),
    ("GET", "/m/index/status", None, {"platform", "trusted"}),
    ("GET", "/v1/review/queue", None, {"reviewer", "admin"}),
    ("GET", "/v1/review/quarantine", None, {"reviewer", "admin"}),
    ("PUT", "/v1/lists/cases/threshold", {"pdq_threshold": 31}, {"reviewer", "admin"}),
    ("POST", "/v1/lists/curated/fingerprints", {"fingerprints": [{"pdq": PDQ}]}, {"reviewer", "admin"}),
    ("POST", "/v1/review/matches/unknown", {"decision": "confirm"}, {"reviewer", "admin"}),
    ("GET", "/v1/investigations/cases/CASE/events", None, {"admin"}),  # investigators need a grant
]


@pytest.mark.parametrize(
    ("method", "path", "body", "allowed"), ROUTES, ids=[f"{m} {p.split('?')[0]}" for m, p, _, _ in ROUTES]
)
def test_role_matrix(service: Service, method: str, path: str, body: dict | None, allowed: set[str]) -> None:
    with service.state.sessions() as session:
        store.create_list(session, name="curated")
        session.commit()
    number, _, _ = service.open_case(random_pdq())
    path = path.replace("CASE", number)
    for caller in CALLERS:
        if caller == "anonymous":
            headers = {}
        elif caller == "garbage":
            headers = {"Authorization": "Bearer ssk_not-a-key"}
        else:
            headers = service.auth(caller)
        response = service.client.request(method, path, json=body, headers=headers)
        if caller in ("anonymous", "revoked", "garbage"):
            assert response.status_code == 401, (caller, response.text)
        elif caller in allowed:
            assert response.status_code not in (401, 403), (caller, response.text)
        else:
            assert response.status_code == 403, (caller, response.text)
        assert response.status_code < 500


def test_case_routes_need_the_case_secret(service: Service) -> None:
    number, secret, _ = service.open_case(random_pdq())
    for caller in ("platform", "reviewer", "investigator", "admin"):
        headers = service.auth(caller)
        assert service.client.get(f"/v1/cases/{number}", headers=headers).status_code == 401
        assert service.client.post(f"/v1/cases/{number}/withdraw", headers=headers).status_code == 401
    assert service.client.get(f"/v1/cases/{number}", headers=secret).status_code == 200
