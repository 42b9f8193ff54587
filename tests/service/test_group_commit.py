"""Concurrent lookups share commits; every match is durable before its lookup returns."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from stopspread.service.group_commit import MatchWriter
from stopspread.signals.types import PdqSignal
from stopspread.storage.models import MatchEvent
from tests.service.conftest import BACKENDS, Service, random_pdq

pytestmark = pytest.mark.parametrize("database_url", BACKENDS, indirect=True)


def test_concurrent_matching_lookups_all_recorded(service: Service) -> None:
    listed = [random_pdq() for _ in range(40)]
    service.open_case(*listed)

    def lookup(pdq: str) -> bool:
        return bool(service.lookup(pdq, content=f"c-{pdq[:8]}")[0]["matched"])

    with ThreadPoolExecutor(16) as pool:
        assert all(pool.map(lookup, listed))
    with service.state.sessions() as session:
        assert session.scalar(select(func.count()).select_from(MatchEvent)) == 40


def test_a_lookup_that_cannot_be_recorded_fails_alone(service: Service) -> None:
    pdq = random_pdq()
    service.open_case(pdq)
    with service.state.sessions() as session:
        service.state.index.catch_up(session)
    hits = service.state.index.lookup(PdqSignal.to_array([pdq]))[0]
    writer = MatchWriter(service.state.sessions, service.state.settings)
    try:
        good = [("good", [("pdq", hits[0])])]
        bad = [("bad", [("pdq", hits[0])])]
        with ThreadPoolExecutor(2) as pool:
            ok = pool.submit(writer.record, platform_id=1, queries=good, query_pdq=[pdq])
            broken = pool.submit(
                writer.record, platform_id=999_999, queries=bad, query_pdq=[pdq]
            )  # no such platform
            assert ok.result()[0][0].list == "cases"
            with pytest.raises(Exception):  # noqa: B017 - the database's integrity error, whichever driver
                broken.result()
    finally:
        writer.close()
    with service.state.sessions() as session:
        contents = session.scalars(select(MatchEvent.content_id)).all()
    assert contents == ["good"]
