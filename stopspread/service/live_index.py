"""The in-process PDQ index of every active fingerprint, following the database's change log.

Each worker process holds its own index and brings it up to the database's head before every
lookup: one indexed query (``max(seq)`` of ``changes``) tells whether anything committed since,
and only the tail is applied. So a withdrawal committed by any worker stops matching in every
worker from the next request on, and several workers need no shared memory or messaging. Writers
append to ``changes`` under a lock (SQLite serialises writers; PostgreSQL takes an advisory
transaction lock), so sequence numbers become visible in order and no change is skipped.

At start the index is restored from the newest snapshot (the index's own ``.npy`` arrays plus
the sequence number it reflects) and the tail of the change log after it; a snapshot is written
every ``snapshot_every`` applied changes and at shutdown.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from stopspread.index import MultiIndexHashing
from stopspread.signals.types import PdqSignal
from stopspread.storage.models import Change, Fingerprint, HashList

log = logging.getLogger("stopspread.index")

# Entry id = fingerprint id << SLOT_BITS | slot: the picture's PDQ, its inner picture's, and
# each video frame's.
SLOT_BITS = 12
MAX_SLOTS = 1 << SLOT_BITS
# Thresholds and actions of lists change rarely and outside the change log: re-read this often.
#: A snapshot's scratch folder this old belongs to a process that died while writing it.
STALE_SCRATCH_SECONDS = 3600.0
LISTS_REFRESH_SECONDS = 2.0
# Largest threshold a list may set: beyond ~60 bits unrelated pictures start to meet.
MAX_THRESHOLD = 63


@dataclass(frozen=True)
class ListPolicy:
    id: int
    name: str
    kind: str
    action: str
    threshold: int


@dataclass(frozen=True)
class Hit:
    fingerprint_id: int
    list: ListPolicy
    distance: int


def pdq_hashes(text: str) -> list[str]:
    return text.split()[:MAX_SLOTS]


class LiveIndex:
    def __init__(self, snapshot_dir: Path | None = None, snapshot_every: int = 100_000) -> None:
        self.snapshot_dir = snapshot_dir
        self.snapshot_every = snapshot_every
        self.pdq = MultiIndexHashing()
        self.seq = 0
        self.size = 0
        self.lists: dict[int, ListPolicy] = {}
        self._list_of = np.zeros(1024, np.int32)
        self._max_fingerprint = -1
        self._since_snapshot = 0
        self._lists_checked = 0.0
        self._lock = threading.Lock()
        self.ready = False
        #: Sequence number of the snapshot the index started from (None: built from the log).
        self.restored_from: int | None = None

    # --- start-up and snapshots -------------------------------------------------------------

    def load(self, session: Session) -> None:
        """Restore the newest snapshot, then apply the change log after it."""
        started = time.perf_counter()
        current = self._current_snapshot()
        if current is not None:
            try:
                meta = json.loads((current / "state.json").read_text())
                self.pdq = MultiIndexHashing.load(current / "pdq")
                self._list_of = np.load(current / "lists.npy")
                self._max_fingerprint = len(self._list_of) - 1
                self.seq, self.size = int(meta["seq"]), int(meta["size"])
                self.restored_from = self.seq
            except Exception:  # a damaged snapshot is rebuilt from the database, not trusted
                log.exception("snapshot %s unreadable; rebuilding from the database", current)
                self.pdq, self.seq, self.size = MultiIndexHashing(), 0, 0
        self.catch_up(session, force_lists=True)
        self.ready = True
        log.info(
            "index ready",
            extra={"seq": self.seq, "entries": self.size, "seconds": round(time.perf_counter() - started, 2)},
        )

    def _current_snapshot(self) -> Path | None:
        if self.snapshot_dir is None:
            return None
        pointer = self.snapshot_dir / "CURRENT"
        if not pointer.exists():
            return None
        path = self.snapshot_dir / pointer.read_text().strip()
        return path if path.is_dir() else None

    def snapshot(self) -> Path | None:
        """Write the index as of its sequence number; the pointer file flips atomically."""
        if self.snapshot_dir is None:
            return None
        with self._lock:
            name = f"snapshot-{self.seq:012d}"
            target = self.snapshot_dir / name
            if not target.exists():
                # Per process and thread: the workers of one server snapshot the same folder.
                scratch = self.snapshot_dir / f".{name}.{os.getpid()}.{threading.get_ident()}"
                shutil.rmtree(scratch, ignore_errors=True)
                scratch.mkdir(parents=True)
                self.pdq.save(scratch / "pdq")
                np.save(scratch / "lists.npy", self._list_of)
                (scratch / "state.json").write_text(json.dumps({"seq": self.seq, "size": self.size}))
                try:
                    scratch.rename(target)
                except OSError:
                    if not target.exists():
                        raise
                    # Another worker wrote the same snapshot first (they all snapshot at shutdown).
                    shutil.rmtree(scratch, ignore_errors=True)
            pointer = self.snapshot_dir / "CURRENT.tmp"
            pointer.write_text(name)
            pointer.replace(self.snapshot_dir / "CURRENT")
            for old in self.snapshot_dir.glob("snapshot-*"):
                if old.name != name:
                    shutil.rmtree(old, ignore_errors=True)
            # Scratch folders of snapshots cut short (a killed process) would pile up, a gigabyte
            # each at 10M entries; one still being written by another worker is far younger.
            for stale in self.snapshot_dir.glob(".snapshot-*"):
                if time.time() - stale.stat().st_mtime > STALE_SCRATCH_SECONDS:
                    shutil.rmtree(stale, ignore_errors=True)
            self._since_snapshot = 0
            return target

    # --- following the database -------------------------------------------------------------

    def is_current(self, engine: Engine) -> bool:
        """Whether nothing was committed since the last catch-up (one indexed query, no ORM:
        this runs before every lookup)."""
        if time.monotonic() - self._lists_checked > LISTS_REFRESH_SECONDS:
            return False
        with engine.connect() as connection:
            return (connection.exec_driver_sql("SELECT max(seq) FROM changes").scalar() or 0) == self.seq

    def catch_up(self, session: Session, force_lists: bool = False) -> None:
        head = session.scalar(select(func.max(Change.seq))) or 0
        now = time.monotonic()
        if force_lists or now - self._lists_checked > LISTS_REFRESH_SECONDS or head != self.seq:
            # Thresholds and actions change rarely and outside the change log.
            self.lists = {
                row.id: ListPolicy(row.id, row.name, row.kind, row.action, row.pdq_threshold)
                for row in session.scalars(select(HashList))
            }
            self._lists_checked = now
        if head == self.seq:
            return
        with self._lock:
            while self.seq < head:
                rows = session.execute(
                    select(Change.seq, Change.op, Change.fingerprint_id, Fingerprint.pdq, Fingerprint.list_id)
                    .join(Fingerprint, Fingerprint.id == Change.fingerprint_id)
                    .where(Change.seq > self.seq, Change.seq <= head)
                    .order_by(Change.seq)
                    .limit(50_000)
                ).all()
                if not rows:
                    break
                self._apply(rows)
                self.seq = int(rows[-1].seq)
        if self._since_snapshot >= self.snapshot_every:
            self.snapshot()

    def _apply(self, rows: list) -> None:  # type: ignore[type-arg]
        """Apply changes in order, a run of additions or of removals at a time (a start-up
        replays millions of additions: they go to the index in bulk)."""
        start = 0
        while start < len(rows):
            op = rows[start].op
            end = start
            fingerprint_ids: list[int] = []
            slots: list[int] = []
            list_ids: list[int] = []
            hexes: list[str] = []
            while end < len(rows) and rows[end].op == op:
                hashes = pdq_hashes(rows[end].pdq)
                fingerprint_ids += [rows[end].fingerprint_id] * len(hashes)
                slots += range(len(hashes))
                list_ids += [rows[end].list_id] * len(hashes)
                hexes += hashes
                end += 1
            if hexes:
                owners = np.array(fingerprint_ids, np.int64)
                ids = (owners << SLOT_BITS) | np.array(slots, np.int64)
                if op == "add":
                    self._set_lists(owners, np.array(list_ids, np.int32))
                    if int(owners.min()) <= self._max_fingerprint:  # re-added (a released quarantine)
                        self.size -= self.pdq.remove(ids)
                    self.pdq.add(ids, PdqSignal.to_array(hexes))
                    self.size += len(ids)
                    self._max_fingerprint = max(self._max_fingerprint, int(owners.max()))
                else:
                    self.size -= self.pdq.remove(ids)
            start = end
        self._since_snapshot += len(rows)

    def _set_lists(self, fingerprint_ids: np.ndarray, list_ids: np.ndarray) -> None:
        needed = int(fingerprint_ids.max()) + 1
        if needed > len(self._list_of):
            grown = np.zeros(max(needed, 2 * len(self._list_of)), np.int32)
            grown[: len(self._list_of)] = self._list_of
            self._list_of = grown
        self._list_of[fingerprint_ids] = list_ids

    # --- lookups -----------------------------------------------------------------------------

    def lookup(self, hashes: np.ndarray) -> list[list[Hit]]:
        """Per PDQ hash (n x 32 bytes), the fingerprints within their list's threshold, nearest
        first; empty when a negative-list entry is within its threshold (benign content never
        matches)."""
        radius = max((p.threshold for p in self.lists.values()), default=PdqSignal.threshold)
        with self._lock:  # a search must not see an add or a remove half-applied
            result = self.pdq.search(hashes, min(radius, MAX_THRESHOLD))
        out: list[list[Hit]] = [[] for _ in range(len(hashes))]
        negative = set()
        for q, entry, distance in zip(result.query_index, result.ids, result.distances, strict=True):
            fingerprint_id = int(entry) >> SLOT_BITS
            policy = self.lists.get(int(self._list_of[fingerprint_id]))
            if policy is None or distance > policy.threshold:
                continue
            if policy.kind == "negative":
                negative.add(int(q))
            else:
                out[q].append(Hit(fingerprint_id, policy, int(distance)))
        for q, hits in enumerate(out):
            if q in negative:
                hits.clear()
                continue
            best: dict[int, Hit] = {}
            for hit in hits:
                if hit.fingerprint_id not in best or hit.distance < best[hit.fingerprint_id].distance:
                    best[hit.fingerprint_id] = hit
            out[q] = sorted(best.values(), key=lambda h: (h.distance, h.fingerprint_id))
        return out

    def matches_negative(self, hexes: list[str]) -> bool:
        """Whether any of these PDQ hashes is within its threshold of known benign content."""
        hashes = PdqSignal.to_array(hexes)
        with self._lock:
            found = self.pdq.search(hashes, MAX_THRESHOLD)
        for entry, distance in zip(found.ids, found.distances, strict=True):
            policy = self.lists.get(int(self._list_of[int(entry) >> SLOT_BITS]))
            if policy is not None and policy.kind == "negative" and distance <= policy.threshold:
                return True
        return False
