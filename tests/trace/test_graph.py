"""Spread reconstruction on small hand-built cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from stopspread.trace import graph

T0 = datetime(2026, 3, 1, 20, tzinfo=UTC)


def match(
    platform: str, content: str, hours: float, distance: int, pdq: str | None = None, fingerprint: int = 1
) -> dict[str, Any]:
    body = {
        "match_id": f"m-{platform}-{content}",
        "platform": platform,
        "content_id": content,
        "fingerprint_id": fingerprint,
        "distance": distance,
        "signal": "pdq",
    }
    if pdq:
        body["query_pdq"] = pdq
    return {"kind": "match", "at": (T0 + timedelta(hours=hours)).isoformat(), "body": body}


def report(
    platform: str,
    content: str,
    uploader: str | None,
    hours: float,
    source: str | None = None,
    fingerprint: int = 1,
) -> dict[str, Any]:
    return {
        "kind": "report",
        "at": (T0 + timedelta(hours=hours)).isoformat(),
        "body": {
            "platform": platform,
            "content_id": content,
            "uploader": uploader,
            "action": "Blocked",
            "forwarded_from": source,
            "fingerprint_id": fingerprint,
        },
    }


def pdq(bits: set[int]) -> str:
    value = 0
    for b in bits:
        value |= 1 << b
    return f"{value:064x}"


def copy(
    platform: str,
    content: str,
    uploader: str | None,
    hours: float,
    bits: set[int],
    source: str | None = None,
    fingerprint: int = 1,
) -> list[dict[str, Any]]:
    return [
        match(platform, content, hours, len(bits), pdq(bits), fingerprint),
        report(platform, content, uploader, hours, source, fingerprint),
    ]


def edges(trace: graph.Trace) -> dict[str, tuple[str, str]]:
    return {e.target: (e.source, e.kind) for e in trace.edges}


def test_explicit_links_win_and_missing_ones_are_inferred_from_pdq_similarity() -> None:
    events = [
        *copy("chat", "a", "u1", 0, {1, 2}),
        *copy("chat", "b", "u2", 1, {1, 2, 3, 4}, source="a"),
        *copy("chat", "c", "u3", 2, {1, 2, 9, 10}),  # nearer to a than to b: forwarded from a
        *copy("chat", "d", "u4", 3, {1, 2, 3, 4, 5, 6}),  # nearest to b
    ]
    trace = graph.build(events, case="SS-1")
    assert edges(trace) == {
        "chat:b": ("chat:a", "explicit"),
        "chat:c": ("chat:a", "inferred"),
        "chat:d": ("chat:b", "inferred"),
    }
    assert trace.earliest is not None and trace.earliest["account"] == "chat/u1"


def test_without_query_pdq_the_distances_to_the_original_order_the_copies() -> None:
    events = [
        match("chat", "a", 0, 2),
        report("chat", "a", "u1", 0),
        match("chat", "b", 1, 12),
        report("chat", "b", "u2", 1),
        match("chat", "c", 2, 4),
        report("chat", "c", "u3", 2),
    ]
    found = edges(graph.build(events))
    assert found["chat:c"] == ("chat:a", "inferred")  # 4 bits is nearer a (2) than b (12)
    assert found["chat:b"][1] == "inferred"


def test_introducers_per_platform_and_cross_platform_edges() -> None:
    events = [
        *copy("chat", "a", "u1", 0, {1}),
        *copy("chat", "b", "u2", 1, {1, 2}, source="a"),
        *copy("photos", "x", "p1", 5, {1, 2, 3}),
        *copy("photos", "y", "p2", 6, {1, 2, 3, 4}, source="x"),
    ]
    trace = graph.build(events)
    introducers = trace.originals[0]["introducers"]
    assert introducers["chat"]["account"] == "chat/u1"
    assert introducers["photos"]["account"] == "photos/p1"
    assert introducers["photos"]["from"] == "chat:b"
    assert introducers["photos"]["hours_after_first"] == 5.0
    cross = [e for e in trace.edges if e.cross_platform]
    assert [(e.source, e.target, e.kind) for e in cross] == [("chat:b", "photos:x", "inferred")]
    assert trace.originals[0]["speed"]["copies"] == 4


def test_cross_platform_forwarded_from_and_unobserved_sources() -> None:
    events = [
        *copy("chat", "a", "u1", 0, {1}),
        *copy("photos", "x", "p1", 2, {1, 2}, source="chat:a"),
        *copy("photos", "y", "p2", 3, {1, 2, 3}, source="never-seen"),
    ]
    trace = graph.build(events)
    found = edges(trace)
    assert found["photos:x"] == ("chat:a", "explicit")
    assert found["photos:y"] == ("photos:never-seen", "explicit")
    ghost = next(c for c in trace.copies if c.id == "photos:never-seen")
    assert not ghost.observed and ghost.first_seen is None


def test_earliest_sharer_is_the_first_known_account_and_an_earlier_unattributed_copy_is_told() -> None:
    events = [
        match("chat", "anon", 0, 3),  # matched, never reported: no uploader
        *copy("chat", "a", "u1", 1, {1}),
        *copy("chat", "b", "u2", 2, {1, 2}),
    ]
    trace = graph.build(events)
    assert trace.earliest is not None
    assert trace.earliest["account"] == "chat/u1"
    assert trace.earliest["earlier_unattributed"]["node"] == "chat:anon"
    assert trace.originals[0]["origin_account"] is None  # the earliest copy's uploader is unknown


def test_top_spreaders_count_reach_through_the_tree() -> None:
    events = [
        *copy("chat", "a", "hub", 0, {1}),
        *copy("chat", "b", "x", 1, {1, 2}, source="a"),
        *copy("chat", "c", "y", 2, {1, 3}, source="a"),
        *copy("chat", "d", "z", 3, {1, 2, 4}, source="b"),
    ]
    top = graph.build(events).spreaders
    assert top[0] == {
        "account": "chat/hub",
        "platform": "chat",
        "uploads": 1,
        "forwarded_to": 2,
        "reach": 3,
        "first_seen": T0.isoformat(timespec="microseconds"),
    }


def test_separate_originals_are_separate_trees() -> None:
    events = [
        *copy("chat", "a", "u1", 0, {1}, fingerprint=1),
        *copy("chat", "b", "u2", 1, {200}, fingerprint=2),
        *copy("chat", "c", "u3", 2, {1, 2}, fingerprint=1),
    ]
    trace = graph.build(events)
    assert edges(trace) == {"chat:c": ("chat:a", "inferred")}
    assert [o["original"] for o in trace.originals] == [1, 2]


def test_loops_of_bad_forwarded_from_reports_are_cut() -> None:
    events = [
        *copy("chat", "a", "u1", 0, {1}, source="b"),
        *copy("chat", "b", "u2", 1, {1, 2}, source="a"),
    ]
    trace = graph.build(events)
    assert edges(trace) == {"chat:b": ("chat:a", "explicit")}


def test_json_is_complete_and_timeline_counts_copies() -> None:
    events = [*copy("chat", "a", "u1", 0, {1}), *copy("photos", "x", "p1", 30, {1, 2})]
    body = graph.build(events, case="SS-1").to_json()
    assert {"nodes", "edges", "originals", "earliest_sharer", "top_spreaders", "speed", "timeline"} <= set(
        body
    )
    assert sum(s["copies"] for s in body["timeline"]["series"]) == 2
    assert body["speed"]["hours"] == 30.0
