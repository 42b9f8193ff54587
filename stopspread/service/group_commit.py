"""Group commit of match events: many lookups' evidence in one transaction, one disk flush.

Every match is evidence and is acknowledged only once durable, so each lookup that matched used
to pay a commit (an fsync of the write-ahead log) of its own, and concurrent lookups queued for
the database's single writer lock. Here the lookups that matched hand their hits to one writer
thread per process, which records everything waiting in one transaction, commits once and wakes
every waiting lookup (one that fails to record fails alone: the others are recorded again).
Latency is one commit; throughput is no longer one commit per request.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from stopspread.service import store

Job = tuple[dict[str, Any], Future]  # keyword arguments of store.record_matches, and its result


class MatchWriter:
    def __init__(self, sessions: sessionmaker[Session], settings: Any, max_group: int = 256) -> None:
        self._sessions, self._settings, self._max_group = sessions, settings, max_group
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="match-writer", daemon=True)
        self._thread.start()

    def record(
        self, *, platform_id: int, queries: Sequence[Any], query_pdq: Sequence[str | None]
    ) -> list[list[store.Verdict]]:
        """Record one lookup's matches; returns once they are committed."""
        done: Future = Future()
        self._queue.put(({"platform_id": platform_id, "queries": queries, "query_pdq": query_pdq}, done))
        return done.result()  # type: ignore[no-any-return]

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group = [first]
            while len(group) < self._max_group:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    self._write(group)
                    return
                group.append(job)
            self._write(group)

    def _write(self, group: list[Job]) -> None:
        """Record the group in one transaction. A lookup whose recording raises fails alone: the
        transaction is rolled back and the others are recorded again without it."""
        pending = list(group)
        while pending:
            verdicts: list[tuple[Future, Any]] = []
            failed: Job | None = None
            try:
                with self._sessions() as session:
                    for job in pending:
                        failed = job
                        verdicts.append(
                            (job[1], store.record_matches(session, settings=self._settings, **job[0]))
                        )
                    failed = None
                    session.commit()
            except Exception as exc:
                if failed is None:  # the commit itself failed: nothing of the group is durable
                    for _, done in pending:
                        done.set_exception(exc)
                    return
                failed[1].set_exception(exc)
                pending.remove(failed)
                continue
            for done, result in verdicts:
                done.set_result(result)
            return
