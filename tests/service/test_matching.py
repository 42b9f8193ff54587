"""Platforms: lookups, policies per list, review, quarantine, the negative list, the sync feed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stopspread.matcher import Matcher
from stopspread.records import read_list
from stopspread.service import store
from stopspread.signals.types import PdqSignal
from tests.service.conftest import (
    BACKENDS,
    Service,
    add_people,
    make_settings,
    near,
    random_pdq,
    start,
)

pytestmark = pytest.mark.parametrize("database_url", BACKENDS, indirect=True)


def _curated(service: Service, name: str, kind: str, action: str, threshold: int, *pdq: str) -> None:
    with service.state.sessions() as session:
        store.create_list(session, name=name, kind=kind, action=action, threshold=threshold)
        session.commit()
    response = service.client.post(
        f"/v1/lists/{name}/fingerprints",
        json={"fingerprints": [{"pdq": p} for p in pdq]},
        headers=service.auth("reviewer"),
    )
    assert response.status_code == 201, response.text


def test_lookup_within_threshold_only_and_never_about_the_victim(service: Service) -> None:
    pdq = random_pdq()
    number, _, _ = service.open_case(pdq)
    inside, outside, unrelated = service.lookup(near(pdq, 31), near(pdq, 32), random_pdq())
    assert inside["matched"] and not outside["matched"] and not unrelated["matched"]
    match = inside["matches"][0]
    assert set(match) == {"match_id", "list", "action", "signal", "distance"}
    assert (match["list"], match["action"], match["distance"]) == ("cases", "block", 31)
    assert number not in json.dumps(inside)


def test_single_lookup_and_digests(service: Service) -> None:
    md5 = "0" * 31 + "1"
    response = service.client.post(
        "/v1/cases", json={"fingerprints": [{"kind": "video", "md5": md5}, {"pdq": random_pdq()}]}
    )
    assert response.status_code == 201
    one = service.client.get("/v1/match", params={"md5": md5}, headers=service.auth("platform")).json()
    assert one["matched"] and one["matches"][0]["signal"] == "md5"
    bad = service.client.get("/v1/match", params={"pdq": "xyz"}, headers=service.auth("platform"))
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"


def test_per_list_threshold_and_review_queue(service: Service) -> None:
    pdq = random_pdq()
    _curated(service, "helpline", "curated", "review", 10, pdq)
    assert not service.lookup(near(pdq, 11))[0]["matched"]
    hit = service.lookup(near(pdq, 10), content="upload-1")[0]["matches"][0]
    assert (hit["list"], hit["action"]) == ("helpline", "review")

    queue = service.client.get("/v1/review/queue", headers=service.auth("reviewer")).json()
    assert [q["match_id"] for q in queue] == [hit["match_id"]]
    decided = service.client.post(
        f"/v1/review/matches/{hit['match_id']}",
        json={"decision": "confirm"},
        headers=service.auth("reviewer"),
    )
    assert decided.json()["status"] == "confirmed"
    assert service.client.get("/v1/review/queue", headers=service.auth("reviewer")).json() == []

    raised = service.client.put(
        "/v1/lists/helpline/threshold", json={"pdq_threshold": 20}, headers=service.auth("reviewer")
    )
    assert raised.status_code == 200
    service.state.index._lists_checked = 0  # thresholds refresh every 2 s; do not wait in a test
    assert service.lookup(near(pdq, 15))[0]["matched"]


def test_negative_list_wins_and_is_refused_as_a_fingerprint(service: Service) -> None:
    benign = random_pdq()
    service.open_case(near(benign, 5))
    assert service.lookup(benign)[0]["matched"]
    _curated(service, "benign", "negative", "review", 31, benign)
    # Content known to be benign never matches, whatever list holds something near it.
    assert not service.lookup(benign)[0]["matched"]
    refused = service.client.post("/v1/cases", json={"fingerprints": [{"pdq": near(benign, 3)}]})
    assert refused.status_code == 409 and refused.json()["index"] == 0


def test_a_flooding_fingerprint_is_quarantined_until_reviewed(tmp_path: Path, database_url: str) -> None:
    client, state = start(make_settings(tmp_path / "data", database_url, quarantine_distinct=5))
    keys, _ = add_people(state)
    try:
        platform = {"Authorization": f"Bearer {keys['platform']}"}
        reviewer = {"Authorization": f"Bearer {keys['reviewer']}"}
        pdq = random_pdq()
        response = client.post("/v1/cases", json={"fingerprints": [{"pdq": pdq}]})
        fingerprint_id = response.json()["fingerprint_ids"][0]

        def matched(content: str) -> bool:
            body = {"signals": [{"pdq": pdq, "content_id": content}]}
            return bool(client.post("/v1/match", json=body, headers=platform).json()["results"][0]["matched"])

        assert all(matched("same") for _ in range(10))  # one content seen again and again is no flood
        assert all(matched(f"c{i}") for i in range(1, 6))  # 6 distinct contents: the 6th tips it over
        assert not matched("c6")
        held = client.get("/v1/review/quarantine", headers=reviewer).json()
        assert [h["fingerprint_id"] for h in held] == [fingerprint_id]
        released = client.post(
            f"/v1/review/fingerprints/{fingerprint_id}", json={"decision": "release"}, headers=reviewer
        )
        assert released.json()["status"] == "active"
        assert matched("c7")  # a reviewer released it: it counts afresh from now
        assert client.get("/v1/review/quarantine", headers=reviewer).json() == []
    finally:
        client.__exit__(None, None, None)


def test_reports_need_a_known_match_of_the_same_platform(service: Service) -> None:
    pdq = random_pdq()
    service.open_case(pdq)
    match_id = service.lookup(pdq)[0]["matches"][0]["match_id"]
    report = {"content_id": "x", "action": "Blocked", "match_id": match_id}
    other = service.client.post("/v1/reports", json={"reports": [report]}, headers=service.auth("trusted"))
    assert other.status_code == 404
    bad = service.client.post(
        "/v1/reports", json={"reports": [{**report, "action": "Deleted"}]}, headers=service.auth("platform")
    )
    assert bad.status_code == 422


def test_sync_feed_is_for_trusted_platforms_and_feeds_the_cli(service: Service, tmp_path: Path) -> None:
    first, second = random_pdq(), random_pdq()
    number, secret, ids = service.open_case(first, second)
    assert service.client.get("/v1/sync", headers=service.auth("platform")).status_code == 403
    feed = service.client.get("/v1/sync", params={"limit": 1}, headers=service.auth("trusted")).json()
    assert len(feed["additions"]) == 1 and feed["more"]
    rest = service.client.get(
        "/v1/sync", params={"cursor": feed["cursor"]}, headers=service.auth("trusted")
    ).json()
    additions = feed["additions"] + rest["additions"]
    assert number not in json.dumps(additions)

    listing = tmp_path / "synced.jsonl"
    listing.write_text("".join(json.dumps(a) + "\n" for a in additions))
    matcher = Matcher()
    matcher.add_all(read_list(listing))
    assert [m[0].id for m in matcher.match_pdq(PdqSignal.to_array([first, second]))] == [
        f"fp-{ids[0]}",
        f"fp-{ids[1]}",
    ]

    service.client.post(f"/v1/cases/{number}/withdraw", json={"fingerprint_ids": [ids[0]]}, headers=secret)
    later = service.client.get(
        "/v1/sync", params={"cursor": rest["cursor"]}, headers=service.auth("trusted")
    ).json()
    assert later["tombstones"] == [f"fp-{ids[0]}"] and later["additions"] == []
