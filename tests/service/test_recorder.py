"""Group commit of match events: concurrent lookups share transactions, each gets its own answer,
and one lookup that cannot be recorded fails alone."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from stopspread.service import recorder as recorder_module
from stopspread.service import store
from stopspread.signals.types import PdqSignal
from stopspread.storage.models import MatchEvent
from tests.service.conftest import BACKENDS, Service, near, random_pdq

pytestmark = pytest.mark.parametrize("database_url", BACKENDS, indirect=True)


def _hits(service: Service, pdq: str) -> list:
    with service.state.sessions() as session:
        service.state.index.catch_up(session)
    return service.state.index.lookup(PdqSignal.to_array([pdq]))[0]


def _platform_id(service: Service, name: str) -> int:
    with service.state.sessions() as session:
        platform = session.scalar(select(store.Platform).where(store.Platform.name == name))
        assert platform is not None
        return platform.id


def _wait_for_queue(recorder: recorder_module.MatchRecorder, jobs: int) -> None:
    deadline = time.monotonic() + 10
    while recorder._queue.qsize() < jobs:
        assert time.monotonic() < deadline, "the lookups never queued"
        time.sleep(0.005)


def test_concurrent_lookups_are_grouped_and_each_gets_its_own_verdicts(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    originals = [random_pdq() for _ in range(12)]
    _, _, fingerprint_ids = service.open_case(*originals)
    platforms = [_platform_id(service, "chatapp"), _platform_id(service, "photoshare")]
    hits = [_hits(service, near(p, 5)) for p in originals]
    assert all(len(h) == 1 for h in hits)

    # Hold the writer inside the first transaction until every other lookup is queued, so that
    # the rest must be recorded together.
    calls: list[int] = []
    release = threading.Event()
    real = store.record_matches

    def slow_first(session, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(len(kwargs["queries"]))
        if len(calls) == 1:
            release.wait(10)
        return real(session, **kwargs)

    monkeypatch.setattr(recorder_module.store, "record_matches", slow_first)
    recorder = service.state.recorder

    def lookup(i: int) -> list:
        return recorder.record(
            platform_id=platforms[i % 2],
            queries=[(f"content-{i}", [("pdq", hits[i][0])])],
            query_pdq=[near(originals[i], 5)],
        )

    with ThreadPoolExecutor(12) as pool:
        futures = [pool.submit(lookup, 0)]
        while not calls:
            threading.Event().wait(0.01)
        futures += [pool.submit(lookup, i) for i in range(1, 12)]
        _wait_for_queue(recorder, 11)  # the other eleven queue up behind the held commit
        release.set()
        verdicts = [f.result() for f in futures]

    # One call for the first lookup, then one per platform for the eleven queued behind it.
    assert len(calls) == 3 and sum(calls) == 12
    with service.state.sessions() as session:
        events = {e.public_id: e for e in session.scalars(select(MatchEvent))}
    for i, answer in enumerate(verdicts):
        (verdict,) = answer[0]
        event = events[verdict.match_id]
        assert event.content_id == f"content-{i}"
        assert event.fingerprint_id == fingerprint_ids[i]
        assert event.platform_id == platforms[i % 2]
    assert len(events) == 12


def test_a_lookup_that_cannot_be_recorded_fails_alone(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    originals = [random_pdq() for _ in range(4)]
    service.open_case(*originals)
    platform = _platform_id(service, "chatapp")
    hits = [_hits(service, p) for p in originals]
    release = threading.Event()
    real = store.record_matches
    first = threading.Event()

    def held(session, **kwargs):  # type: ignore[no-untyped-def]
        if not first.is_set():
            first.set()
            release.wait(10)
        return real(session, **kwargs)

    monkeypatch.setattr(recorder_module.store, "record_matches", held)
    recorder = service.state.recorder

    def lookup(i: int, platform_id: int) -> list:
        return recorder.record(platform_id=platform_id, queries=[(f"c{i}", [("pdq", hits[i][0])])])

    with ThreadPoolExecutor(4) as pool:
        head = pool.submit(lookup, 0, platform)
        first.wait(10)
        good = [pool.submit(lookup, i, platform) for i in (1, 2)]
        bad = pool.submit(lookup, 3, 10**6)  # no such platform: the insert violates a foreign key
        _wait_for_queue(recorder, 3)  # all three in the next group
        release.set()
        assert head.result()[0]
        assert all(f.result()[0] for f in good)
        with pytest.raises(Exception):  # noqa: B017 - the driver's integrity error, whichever driver
            bad.result()

    with service.state.sessions() as session:
        contents = sorted(e.content_id for e in session.scalars(select(MatchEvent)))
    assert contents == ["c0", "c1", "c2"]


def test_a_lookup_without_hits_writes_nothing(service: Service) -> None:
    platform = _platform_id(service, "chatapp")
    assert service.state.recorder.record(platform_id=platform, queries=[("x", []), ("y", [])]) == [[], []]
    with service.state.sessions() as session:
        assert session.scalars(select(MatchEvent)).first() is None
