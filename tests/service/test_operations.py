"""Health, metrics, limits, refusing media, the append-only audit log, the OpenAPI document."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.service.conftest import BACKENDS, Service, add_people, make_settings, random_pdq, start


def test_health_and_metrics(service: Service) -> None:
    assert service.client.get("/livez").json() == {"status": "ok"}
    assert service.client.get("/readyz").json()["status"] == "ready"
    pdq = random_pdq()
    service.open_case(pdq)
    service.lookup(pdq, random_pdq())
    metrics = service.client.get("/metrics").text
    assert "stopspread_lookups_total 2.0" in metrics
    assert "stopspread_matches_total 1.0" in metrics
    assert 'stopspread_requests_total{route="/v1/match",status="200"} 1.0' in metrics


def test_not_ready_while_the_index_loads(service: Service) -> None:
    service.state.index.ready = False
    assert service.client.get("/readyz").status_code == 503
    refused = service.client.post(
        "/v1/match", json={"signals": [{"pdq": random_pdq()}]}, headers=service.auth("platform")
    )
    assert refused.status_code == 503 and refused.headers["retry-after"] == "5"
    service.state.index.ready = True


@pytest.mark.parametrize("content_type", ["image/jpeg", "video/mp4", "multipart/form-data; boundary=x"])
def test_media_are_refused(service: Service, content_type: str) -> None:
    response = service.client.post(
        "/v1/cases", content=b"\xff\xd8\xff\xe0" + b"\0" * 64, headers={"content-type": content_type}
    )
    assert response.status_code == 415
    assert response.headers["content-type"] == "application/problem+json"


def test_request_size_is_limited(tmp_path: Path) -> None:
    client, _ = start(make_settings(tmp_path / "data", "", max_body_bytes=2000))
    try:
        fingerprints = [{"pdq": random_pdq()} for _ in range(40)]
        response = client.post("/v1/cases", json={"fingerprints": fingerprints})
        assert response.status_code == 413
        assert client.post("/v1/cases", json={"fingerprints": fingerprints[:5]}).status_code == 201
    finally:
        client.__exit__(None, None, None)


def test_case_routes_are_rate_limited(tmp_path: Path) -> None:
    client, _ = start(make_settings(tmp_path / "data", "", case_rate_per_minute=5))
    try:
        statuses = [
            client.get("/v1/cases/SS-AAAAA-AAAAA", headers={"Authorization": "Bearer x"}).status_code
            for _ in range(8)
        ]
        assert statuses[:5] == [401] * 5 and statuses[5:] == [429] * 3
        limited = client.get("/v1/cases/SS-AAAAA-AAAAA", headers={"Authorization": "Bearer x"})
        assert int(limited.headers["retry-after"]) >= 1
    finally:
        client.__exit__(None, None, None)


def test_lookups_are_rate_limited_per_key(tmp_path: Path) -> None:
    client, state = start(make_settings(tmp_path / "data", "", lookups_per_second=1, lookup_burst=10))
    keys, _ = add_people(state)
    try:
        body = {"signals": [{"pdq": random_pdq()} for _ in range(4)]}
        platform = {"Authorization": f"Bearer {keys['platform']}"}
        statuses = [client.post("/v1/match", json=body, headers=platform).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        other = {"Authorization": f"Bearer {keys['trusted']}"}
        assert client.post("/v1/match", json=body, headers=other).status_code == 200
        # The HMA routes draw on the same budget (two or three lookups are left): no way around it.
        for route in ("/m/lookup", "/m/raw_lookup"):
            params = {"signal_type": "pdq", "signal": random_pdq()}
            statuses = [client.get(route, params=params, headers=platform).status_code for _ in range(6)]
            assert 429 in statuses, route
    finally:
        client.__exit__(None, None, None)


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_audit_log_and_change_log_are_append_only(service: Service) -> None:
    service.open_case(random_pdq())
    for statement in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log", "DELETE FROM changes"):
        with service.state.engine.connect() as connection, pytest.raises(DBAPIError, match="append-only"):
            connection.execute(text(statement))


def test_openapi_documents_every_route_with_examples(service: Service) -> None:
    spec = service.client.get("/openapi.json").json()
    paths = spec["paths"]
    for route in ("/v1/cases", "/v1/match", "/v1/reports", "/v1/sync", "/m/lookup", "/v1/review/queue"):
        assert route in paths
    for operations in paths.values():
        for operation in operations.values():
            assert operation.get("summary") or operation.get("description")
    schemas = spec["components"]["schemas"]
    assert (
        schemas["Signal"]["properties"]["pdq"]["anyOf"][0]
        or schemas["Signal"]["properties"]["pdq"]["examples"]
    )
    assert "examples" in schemas["LookupIn"]["properties"]["signals"]
    problem = paths["/v1/match"]["post"]["responses"]["429"]["content"]["application/problem+json"]
    assert problem["example"]["status"] == 429
