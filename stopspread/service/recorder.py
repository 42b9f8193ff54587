"""Group commit of match events: the lookups that match at the same time share one transaction.

Every match is evidence, so a lookup is answered only after its match events are committed. A
commit waits for the disk (SQLite's WAL fsync costs 3-6 ms on the benchmark machine) and SQLite
has one writer at a time, so committing each lookup on its own caps a server at a few hundred
matching lookups per second whatever the CPU. Here one writer thread per process takes every
lookup queued while the previous commit was on the disk and records them all in one transaction:
the same durability (nobody is answered before the commit), one fsync for many lookups.

A lookup whose events cannot be recorded must not take the others down with it: when a group's
transaction fails, each of its lookups is retried in a transaction of its own, so only the
failing one gets the error.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from stopspread.service import store
from stopspread.service.live_index import Hit

#: Most lookups (and matches) recorded in one transaction: keeps a commit's latency bounded
#: when batch lookups of a thousand fingerprints queue up together.
MAX_GROUP = 64
MAX_GROUP_EVENTS = 5000

Query = tuple[str | None, list[tuple[str, Hit]]]


@dataclass
class _Job:
    platform_id: int
    queries: Sequence[Query]
    query_pdq: Sequence[str | None] | None
    done: Future[list[list[store.Verdict]]] = field(default_factory=Future)

    @property
    def hits(self) -> int:
        return sum(len(hits) for _, hits in self.queries)


class MatchRecorder:
    """Records the matches of concurrent lookups in shared transactions (one writer thread)."""

    def __init__(self, sessions: sessionmaker[Session], settings: Any) -> None:
        self._sessions = sessions
        self._settings = settings
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="match-recorder", daemon=True)
        self._thread.start()

    def record(
        self, *, platform_id: int, queries: Sequence[Query], query_pdq: Sequence[str | None] | None = None
    ) -> list[list[store.Verdict]]:
        """``store.record_matches`` for one lookup, returning once its events are committed."""
        if not any(hits for _, hits in queries):
            return [[] for _ in queries]  # nothing to record: no transaction, no wait
        job = _Job(platform_id, queries, query_pdq)
        self._queue.put(job)
        return job.done.result()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group, events = [first], first.hits
            while len(group) < MAX_GROUP and events < MAX_GROUP_EVENTS:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    self._queue.put(None)  # finish this group, then stop
                    break
                group.append(job)
                events += job.hits
            self._commit(group)

    def _commit(self, group: list[_Job]) -> None:
        try:
            results = self._transaction(group)
        except Exception as exc:
            if len(group) == 1:
                group[0].done.set_exception(exc)  # raised again in the lookup's own request
                return
            for job in group:  # one by one: only the lookup at fault fails
                self._commit([job])
            return
        for job, result in zip(group, results, strict=True):
            job.done.set_result(result)

    def _transaction(self, group: list[_Job]) -> list[list[list[store.Verdict]]]:
        results: list[list[list[store.Verdict]]] = [[] for _ in group]
        with self._sessions() as session:
            # One call per platform for the whole group: its few queries are shared by all.
            for platform_id in sorted({job.platform_id for job in group}):
                members = [i for i, job in enumerate(group) if job.platform_id == platform_id]
                verdicts = store.record_matches(
                    session,
                    platform_id=platform_id,
                    queries=[q for i in members for q in group[i].queries],
                    settings=self._settings,
                    query_pdq=[
                        pdq for i in members for pdq in (group[i].query_pdq or [None] * len(group[i].queries))
                    ],
                )
                start = 0
                for i in members:
                    end = start + len(group[i].queries)
                    results[i] = verdicts[start:end]
                    start = end
            session.commit()
        return results
