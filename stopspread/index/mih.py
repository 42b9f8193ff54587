"""Multi-index hashing (Norouzi, Punjani & Fleet, CVPR 2012) for exact radius search.

Design, and why:

* **Chunks and the pigeonhole.** The 256 bits are cut into ``m`` disjoint chunks; table j
  indexes every entry by the value of chunk j. A query probes table j with every key within
  ``r_j`` bits of its own chunk j. If ``sum(r_j + 1) >= R + 1`` then any entry within ``R``
  of the query is within ``r_j`` on some chunk (else its distance would be at least
  ``sum(r_j + 1) > R``), so recall is exactly 100 %. The radii are planned per search, so one
  set of tables serves every radius; when probing would cost more than scanning (large radii
  or small segments) the segment is scanned linearly instead - still exact.
* **m per size.** ``m`` and the chunk widths are chosen per segment by a cost model (one unit
  per bucket probe and per candidate verified, both cache misses; 0.1 per linearly scanned
  entry) under a memory budget. That gives m = 14 around 1M entries, m = 11 around 10M and
  m = 10 around 100M, close to the classic optimum m ~ 256 / log2(n).
* **Memory layout (CSR).** Per segment: the hashes ``(n, 4) uint64`` and caller ids
  ``(n,) int64``, both sorted by id, so the id array doubles as the id -> position lookup
  (binary search) and no hash map is needed; per table a ``uint32`` position array (4 B per
  entry per table) grouped by chunk value; bucket offsets in two levels (a ``uint32`` per
  group of up to 256 buckets plus a ``uint8`` per bucket, ~1.1 B per bucket instead of 4);
  a tombstone bitmap (1 bit per entry).
* **Updates.** New entries go to a small linearly scanned delta (default 4096). When it
  fills, it is merged into a "side" segment; when the side reaches 1/8 of the main segment,
  both are rebuilt into a new main. Each rebuild is a linear-time counting sort, so the
  amortised cost per added entry is small and a search never waits for a rebuild. Removals
  set a tombstone bit checked when a match is verified, so they are visible to the next
  search; a segment is compacted when a quarter of it is tombstones.
"""

from __future__ import annotations

import functools
import itertools
import math
from pathlib import Path
from typing import Any, Self

import numpy as np
import numpy.typing as npt

from stopspread.errors import IndexFormatError
from stopspread.index import _kernels
from stopspread.index.base import SearchResult, check_radius, collect
from stopspread.index.bits import (
    HASH_BITS,
    HASH_BYTES,
    HASH_WORDS,
    aligned_empty,
    as_hash_bytes,
    as_ids,
    to_words,
    words_to_bytes,
)
from stopspread.index.linear import check_new_ids, dead_bitmap
from stopspread.index.persist import read_index, require, write_index

# Cost model, in units of "one cache miss". Calibrated on the benchmark machine: a random
# 32-byte read costs ~11-25 ns, a bucket lookup about the same, a linearly scanned entry
# ~1.5 ns.
_PROBE = 1.0
_CANDIDATE = 1.0
_SCAN = 0.1
_PER_TABLE = 4.0
_MAX_WIDTH = 26  # 2**26 buckets: 64 MiB of build scratch per table
_MIN_WIDTH = 8
_MAX_TABLES = 32  # table indices are stored as uint8
_GROUP_ENTRIES = 64  # target entries per offset group (must stay <= 255 for uint8)
_MAX_GROUP_SHIFT = 8
_FORCED_MAX_COST = 200_000.0


def _volume(width: int, r: int) -> int:
    """Number of keys within Hamming radius r of a width-bit key."""
    if r < 0:
        return 0
    return sum(math.comb(width, k) for k in range(min(r, width) + 1))


def plan_radii(widths: tuple[int, ...], radius: int, n: int) -> tuple[list[int], float] | None:
    """Per-table probe radii with sum(r_j + 1) >= radius + 1 at least estimated cost.

    Greedy is optimal here: each increment adds exactly one to the sum and every table's
    cost is convex in its radius. None when the chunks cannot guarantee the radius."""
    r = [-1] * len(widths)
    unit = [_PROBE + _CANDIDATE * n / 2.0**w for w in widths]

    def cost(j: int, rj: int) -> float:
        return _volume(widths[j], rj) * unit[j]

    for _ in range(radius + 1):
        best_j, best_inc = -1, math.inf
        for j, w in enumerate(widths):
            if r[j] >= w:
                continue
            inc = cost(j, r[j] + 1) - cost(j, r[j])
            if inc < best_inc:
                best_j, best_inc = j, inc
        if best_j < 0:
            return None
        r[best_j] += 1
    total = sum(cost(j, r[j]) for j in range(len(widths)))
    total += _PER_TABLE * sum(1 for x in r if x >= 0)
    return r, total


def _chunks(m: int, cap: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """m disjoint chunks spreading the 256 bits evenly; each uses at most ``cap`` of its bits
    (fewer bits keep the bucket array small for small segments)."""
    base, extra = divmod(HASH_BITS, m)
    spans = [base + (1 if i < extra else 0) for i in range(m)]
    starts = tuple(int(x) for x in np.cumsum([0, *spans[:-1]]))
    widths = tuple(min(cap, s) for s in spans)
    return starts, widths


def offsets_bytes(widths: tuple[int, ...], n: int) -> float:
    """Estimated bytes of two-level bucket offsets (uint8 per bucket + uint32 per group)."""
    total = 0.0
    for w in widths:
        total += (2**w + 1) + 4 * (2**w / 2 ** _group_shift_target(w, n) + 1)
    return total


def _group_shift_target(width: int, n: int) -> int:
    per_bucket = max(n, 1) / 2.0**width
    shift = math.floor(math.log2(_GROUP_ENTRIES / per_bucket)) if per_bucket > 0 else 0
    return int(min(max(shift, 0), _MAX_GROUP_SHIFT, width))


def choose_layout(
    n: int, design_radius: int, budget: float, tables: int | None = None
) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """Chunking minimising the estimated cost of a search at ``design_radius`` with at most
    ``budget`` bytes of tables per entry; None when a linear scan is estimated cheaper.
    ``tables`` forces the number of tables and ignores budget and linear scan (tests use it
    to exercise the tables on small data)."""
    best: tuple[tuple[int, ...], tuple[int, ...]] | None = None
    best_cost = math.inf if tables else _SCAN * n
    seen: set[tuple[int, ...]] = set()
    # A forced layout on small data keeps buckets near one entry each (memory stays small).
    max_cap = min(_MAX_WIDTH, max(_MIN_WIDTH, math.ceil(math.log2(max(n, 2))) + 2))
    for m in [tables] if tables else range(1, _MAX_TABLES + 1):
        for cap in range(_MIN_WIDTH, (max_cap if tables else _MAX_WIDTH) + 1):
            starts, widths = _chunks(m, cap)
            if widths in seen:
                continue
            seen.add(widths)
            if not tables and 4 * m + offsets_bytes(widths, n) / max(n, 1) > budget:
                continue
            plan = plan_radii(widths, design_radius, n)
            if plan is not None and plan[1] < best_cost:
                best, best_cost = (starts, widths), plan[1]
    return best


def estimate_memory(
    n: int, design_radius: int = 31, table_bytes_per_entry: float = 64.0, threads: int = 2
) -> dict[str, float]:
    """Bytes an index of ``n`` entries holds at rest, and at the peak of a full rebuild.

    At rest: 32 B hash + 8 B id + 1 bit tombstone per entry, plus the tables the cost model
    picks. During a rebuild of the main segment the old hashes and ids stay (its tables are
    freed first), the new segment is built beside them, with an argsort order and its inverse
    (16 B per entry) and one bucket counter array per building thread."""
    layout = choose_layout(n, design_radius, table_bytes_per_entry)
    widths = layout[1] if layout else ()
    base = 40.0 * n + n / 8
    tables = 4.0 * len(widths) * n + (offsets_bytes(widths, n) if widths else 0.0)
    steady = base + tables
    scratch = 16.0 * n + threads * 4.0 * 2 ** max(widths, default=0)
    return {
        "tables": float(len(widths)),
        "bytes_per_entry": steady / max(n, 1),
        "steady_bytes": steady,
        "rebuild_peak_bytes": base + steady + scratch,
    }


@functools.lru_cache(maxsize=256)
def _masks(width: int, r: int) -> npt.NDArray[np.uint64]:
    """All width-bit XOR patterns of at most r set bits, by increasing weight."""
    out = [0]
    for k in range(1, min(r, width) + 1):
        out.extend(sum(1 << b for b in c) for c in itertools.combinations(range(width), k))
    arr = np.array(out, dtype=np.uint64)
    arr.flags.writeable = False
    return arr


class _Plan:
    """Kernel arguments for one (segment, radius): per-table radii and probe patterns."""

    def __init__(self, widths: tuple[int, ...], radii: list[int]) -> None:
        self.radii = np.array(radii, dtype=np.int64)
        masks = [_masks(w, r) for w, r in zip(widths, radii, strict=True) if r >= 0]
        sizes = [_volume(w, r) for w, r in zip(widths, radii, strict=True)]
        self.masks = np.concatenate(masks) if masks else np.empty(0, dtype=np.uint64)
        self.mtable = np.repeat(np.arange(len(widths), dtype=np.uint8), sizes)


class _Segment:
    """An immutable set of entries (plus tombstones), with or without MIH tables."""

    def __init__(self, words: np.ndarray, ids: np.ndarray, dead: np.ndarray) -> None:
        self.words = words  # (n, 4) uint64, 64-byte aligned, sorted by id
        self.ids = ids  # (n,) int64, strictly increasing
        self.dead = dead  # tombstone bitmap
        self.n_dead = 0
        self.starts: tuple[int, ...] = ()
        self.widths: tuple[int, ...] = ()
        self.gshift = np.empty(0, dtype=np.int64)
        self.perm = np.empty(0, dtype=np.uint32)
        self.coarse = np.empty(0, dtype=np.uint32)
        self.fine = np.empty(0, dtype=np.uint8)
        self._plans: dict[int, _Plan | None] = {}
        self.forced = False  # tables chosen by the caller: probe them even when a scan is cheaper

    @property
    def n(self) -> int:
        return int(self.ids.shape[0])

    @property
    def n_live(self) -> int:
        return self.n - self.n_dead

    @property
    def has_tables(self) -> bool:
        return bool(self.starts)

    @classmethod
    def build(
        cls,
        words: list[np.ndarray],
        ids: list[np.ndarray],
        design_radius: int,
        budget: float,
        tables: int | None = None,
    ) -> _Segment:
        """Build from parts (each (k, 4) words + (k,) ids), writing each part's rows straight
        to their id-sorted place so no unsorted copy of all hashes is ever held."""
        all_ids = np.concatenate(ids) if ids else np.empty(0, dtype=np.int64)
        n = int(all_ids.shape[0])
        if n >= 2**32 - 1:
            raise ValueError("a segment holds at most 2**32 - 2 entries (positions are uint32)")
        out = aligned_empty((n, HASH_WORDS), np.uint64)
        if n > 1 and not bool(np.all(all_ids[1:] > all_ids[:-1])):
            order = np.argsort(all_ids, kind="stable")
            all_ids = all_ids[order]
            rank = np.empty(n, dtype=np.int64)
            rank[order] = np.arange(n)
            del order
            offset = 0
            for part in words:
                out[rank[offset : offset + part.shape[0]]] = part
                offset += part.shape[0]
            del rank
        else:
            np.concatenate(words, axis=0, out=out)
        seg = cls(out, all_ids, dead_bitmap(n))
        seg.forced = tables is not None
        layout = choose_layout(n, design_radius, budget, tables) if n else None
        if layout is not None:
            seg._build_tables(*layout)
        return seg

    def _build_tables(self, starts: tuple[int, ...], widths: tuple[int, ...]) -> None:
        n = self.n
        st = np.array(starts, dtype=np.int64)
        wd = np.array(widths, dtype=np.int64)
        target = np.array([_group_shift_target(w, n) for w in widths], dtype=np.int64)
        gshift = _kernels.choose_group_shifts(self.words, st, wd, target)
        nbuckets = (1 << wd) + 1
        ngroups = (1 << (wd - gshift)) + 1
        fine = np.empty(int(nbuckets.sum()), dtype=np.uint8)
        coarse = np.empty(int(ngroups.sum()), dtype=np.uint32)
        perm = np.empty(len(starts) * n, dtype=np.uint32)
        _kernels.build_tables(
            self.words, st, wd, gshift, self._base(ngroups), self._base(nbuckets),
            coarse, fine, perm,
        )  # fmt: skip
        self.starts, self.widths = starts, widths
        self.gshift, self.perm, self.coarse, self.fine = gshift, perm, coarse, fine
        self._plans.clear()

    def drop_tables(self) -> None:
        """Free the tables (the segment stays correct, searched linearly)."""
        self.starts, self.widths = (), ()
        self.gshift = np.empty(0, dtype=np.int64)
        self.perm = np.empty(0, dtype=np.uint32)
        self.coarse = np.empty(0, dtype=np.uint32)
        self.fine = np.empty(0, dtype=np.uint8)
        self._plans.clear()

    @staticmethod
    def _base(sizes: np.ndarray) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)

    def plan(self, radius: int) -> _Plan | None:
        """Probe plan for ``radius``, or None when a linear scan is cheaper (or required)."""
        if radius not in self._plans:
            plan: _Plan | None = None
            if self.has_tables:
                est = plan_radii(self.widths, radius, self.n)
                limit = max(_SCAN * self.n, _FORCED_MAX_COST) if self.forced else _SCAN * self.n
                if est is not None and est[1] < limit:
                    plan = _Plan(self.widths, est[0])
            self._plans[radius] = plan
        return self._plans[radius]

    def search(self, qwords: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        plan = self.plan(radius)
        words, dead = self.words, self.dead
        if plan is None:

            def run(qw: np.ndarray, counts: np.ndarray, pos: np.ndarray, d: np.ndarray) -> None:
                _kernels.run_linear(qw, words, dead, radius, counts, pos, d)

        else:
            wd = np.array(self.widths, dtype=np.int64)
            st = np.array(self.starts, dtype=np.int64)
            ngroups = (1 << (wd - self.gshift)) + 1
            cbase, fbase = self._base(ngroups), self._base((1 << wd) + 1)
            perm, coarse, fine, gshift = self.perm, self.coarse, self.fine, self.gshift

            def run(qw: np.ndarray, counts: np.ndarray, pos: np.ndarray, d: np.ndarray) -> None:
                _kernels.run_mih(
                    qw, words, dead, perm, coarse, fine, cbase, fbase, gshift, st, wd,
                    plan.radii, plan.masks, plan.mtable, radius, counts, pos, d,
                )  # fmt: skip

        qi, pos, dist = collect(run, qwords)
        return qi, self.ids[pos], dist

    def locate(self, ids: np.ndarray) -> np.ndarray:
        """Positions of live entries with these ids, -1 where absent or removed."""
        pos = np.searchsorted(self.ids, ids)
        pos[pos >= self.n] = 0
        found = (self.ids[pos] == ids) if self.n else np.zeros(ids.shape, dtype=bool)
        found &= ~self._dead_at(pos)
        return np.where(found, pos, -1)

    def _dead_at(self, pos: np.ndarray) -> np.ndarray:
        word = self.dead[pos >> 6]
        return ((word >> (pos & 63).astype(np.uint64)) & np.uint64(1)).astype(bool)

    def kill(self, pos: np.ndarray) -> None:
        """Tombstone live positions (unique, all currently alive)."""
        np.bitwise_or.at(self.dead, pos >> 6, np.uint64(1) << (pos & 63).astype(np.uint64))
        self.n_dead += int(pos.shape[0])

    def live(self) -> tuple[np.ndarray, np.ndarray]:
        """Live entries as (words, ids), still sorted by id."""
        if self.n_dead == 0:
            return self.words, self.ids
        alive = ~self._dead_at(np.arange(self.n))
        return self.words[alive], self.ids[alive]

    def nbytes(self) -> dict[str, int]:
        return {
            "hashes": self.words.nbytes,
            "ids": self.ids.nbytes,
            "tombstones": self.dead.nbytes,
            "positions": self.perm.nbytes,
            "offsets": self.coarse.nbytes + self.fine.nbytes,
        }

    def describe(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "n_dead": self.n_dead,
            "tables": len(self.starts),
            "starts": list(self.starts),
            "widths": list(self.widths),
            "gshift": [int(x) for x in self.gshift],
            "forced": self.forced,
        }

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        out = {
            f"{prefix}_hashes": words_to_bytes(self.words),
            f"{prefix}_ids": self.ids,
            f"{prefix}_dead": self.dead,
        }
        if self.has_tables:
            out[f"{prefix}_perm"] = self.perm
            out[f"{prefix}_coarse"] = self.coarse
            out[f"{prefix}_fine"] = self.fine
        return out

    @classmethod
    def restore(cls, desc: dict[str, Any], arrays: dict[str, np.ndarray], prefix: str) -> Self:
        """Rebuild from saved arrays, checking every invariant the kernels rely on (an index
        that passes its checksums could still have been written by a buggy or hostile tool,
        and out-of-range positions would read outside the arrays)."""
        try:
            hashes = require(arrays, f"{prefix}_hashes")
            ids = require(arrays, f"{prefix}_ids")
            dead = require(arrays, f"{prefix}_dead")
            n = int(desc["n"])
            starts = tuple(int(x) for x in desc["starts"])
            widths = tuple(int(x) for x in desc["widths"])
            gshift_l = [int(x) for x in desc["gshift"]]
            n_dead = int(desc["n_dead"])
        except (KeyError, TypeError, ValueError) as exc:
            raise IndexFormatError(f"segment {prefix!r} description is malformed: {exc}") from exc

        def bad(why: str) -> IndexFormatError:
            return IndexFormatError(f"segment {prefix!r} of the index is corrupt: {why}")

        if hashes.dtype != np.uint8 or hashes.shape != (n, HASH_BYTES):
            raise bad("hash array has the wrong shape")
        if ids.dtype != np.int64 or ids.shape != (n,):
            raise bad("id array has the wrong shape")
        if n > 1 and not bool(np.all(ids[1:] > ids[:-1])):
            raise bad("ids are not strictly increasing")
        if dead.dtype != np.uint64 or dead.shape != dead_bitmap(n).shape:
            raise bad("tombstone bitmap has the wrong shape")
        seg = cls(to_words(hashes), ids.copy(), dead.copy())
        seg.forced = bool(desc.get("forced", False))
        seg.n_dead = int(np.bitwise_count(seg.dead).sum())
        if seg.n_dead != n_dead or (n and seg._dead_at(np.arange(n, n + 64)).any()):
            raise bad("tombstone count does not match the bitmap")
        if not (len(starts) == len(widths) == len(gshift_l)):
            raise bad("table description lengths differ")
        if not starts:
            return seg
        spans = [*starts[1:], HASH_BITS]
        for s, w, e, g in zip(starts, widths, spans, gshift_l, strict=True):
            if not (s >= 0 and 1 <= w <= _MAX_WIDTH and s + w <= e and 0 <= g <= w):
                raise bad(f"invalid chunk (start {s}, width {w}, group shift {g})")
        wd = np.array(widths, dtype=np.int64)
        gshift = np.array(gshift_l, dtype=np.int64)
        nbuckets = (1 << wd) + 1
        ngroups = (1 << (wd - gshift)) + 1
        perm = require(arrays, f"{prefix}_perm")
        coarse = require(arrays, f"{prefix}_coarse")
        fine = require(arrays, f"{prefix}_fine")
        if perm.dtype != np.uint32 or perm.shape != (len(starts) * n,):
            raise bad("position array has the wrong shape")
        if coarse.dtype != np.uint32 or coarse.shape != (int(ngroups.sum()),):
            raise bad("group offsets have the wrong shape")
        if fine.dtype != np.uint8 or fine.shape != (int(nbuckets.sum()),):
            raise bad("bucket offsets have the wrong shape")
        if n and int(perm.max()) >= n:
            raise bad("a position points past the end")
        cbase = cls._base(ngroups)
        for j in range(len(starts)):
            c = coarse[cbase[j] : cbase[j] + ngroups[j]]
            if c[0] != 0 or c[-1] != n or bool(np.any(np.diff(c.astype(np.int64)) < 0)):
                raise bad(f"offsets of table {j} are not a valid prefix sum")
        seg.starts, seg.widths, seg.gshift = starts, widths, gshift
        seg.perm, seg.coarse, seg.fine = perm, coarse, fine
        return seg


class MultiIndexHashing:
    """Exact Hamming-radius index: multi-index hashing over a main, a side and a delta part.

    ``design_radius`` is the radius the tables are tuned for (31, PDQ's match threshold);
    every other radius is still answered exactly. ``table_bytes_per_entry`` caps the tables
    (positions + offsets) per entry on top of the 40 bytes of hash and id: 64 (default) buys
    speed; lower it to trade speed for memory. ``tables`` forces the number of tables of
    every segment (for tests and experiments; None lets the cost model choose per size).
    """

    KIND = "MultiIndexHashing"

    def __init__(
        self,
        design_radius: int = 31,
        table_bytes_per_entry: float = 64.0,
        delta_capacity: int = 4096,
        side_ratio: float = 8.0,
        compact_fraction: float = 0.25,
        tables: int | None = None,
    ) -> None:
        if tables is not None and not 1 <= tables <= _MAX_TABLES:
            raise ValueError(f"tables must be in 1..{_MAX_TABLES}")
        self.tables = tables
        if delta_capacity < 1 or side_ratio <= 0 or not 0 < compact_fraction <= 1:
            raise ValueError("delta_capacity >= 1, side_ratio > 0, 0 < compact_fraction <= 1")
        self.design_radius = check_radius(design_radius)
        self.table_bytes_per_entry = float(table_bytes_per_entry)
        self.delta_capacity = int(delta_capacity)
        self.side_ratio = float(side_ratio)
        self.compact_fraction = float(compact_fraction)
        self._main: _Segment | None = None
        self._side: _Segment | None = None
        self._delta_words = aligned_empty((self.delta_capacity, HASH_WORDS), np.uint64)
        self._delta_ids = np.empty(self.delta_capacity, dtype=np.int64)
        self._delta_n = 0
        self._delta_dead = dead_bitmap(self.delta_capacity)

    # ---- size and introspection -------------------------------------------------------
    def __len__(self) -> int:
        return self._delta_n + sum(s.n_live for s in self._segments())

    def _segments(self) -> list[_Segment]:
        return [s for s in (self._main, self._side) if s is not None]

    def memory_bytes(self) -> dict[str, int]:
        """Bytes held, by kind (every array the index owns)."""
        total: dict[str, int] = {
            "delta": self._delta_words.nbytes + self._delta_ids.nbytes + self._delta_dead.nbytes
        }
        for seg in self._segments():
            for k, v in seg.nbytes().items():
                total[k] = total.get(k, 0) + v
        return total

    def describe(self) -> dict[str, Any]:
        return {
            "main": self._main.describe() if self._main else None,
            "side": self._side.describe() if self._side else None,
            "delta": self._delta_n,
        }

    # ---- updates --------------------------------------------------------------------------
    def add(self, ids: npt.ArrayLike, hashes: npt.ArrayLike) -> None:
        new_ids = as_ids(ids)
        new_hashes = as_hash_bytes(hashes, "hashes")
        if new_ids.shape[0] != new_hashes.shape[0]:
            raise ValueError(f"{new_ids.shape[0]} ids for {new_hashes.shape[0]} hashes")
        if new_ids.shape[0] == 0:
            return
        check_new_ids(new_ids)
        present = np.isin(new_ids, self._delta_ids[: self._delta_n])
        for seg in self._segments():
            present |= seg.locate(new_ids) >= 0
        if present.any():
            raise ValueError(f"ids already in the index: {new_ids[present][:5].tolist()}")
        k = new_ids.shape[0]
        if self._delta_n + k <= self.delta_capacity:
            dst = self._delta_words.view(np.uint8).reshape(-1, HASH_BYTES)
            dst[self._delta_n : self._delta_n + k] = new_hashes
            self._delta_ids[self._delta_n : self._delta_n + k] = new_ids
            self._delta_n += k
        else:
            self._absorb(to_words(new_hashes), new_ids)

    def _absorb(self, words: np.ndarray, ids: np.ndarray) -> None:
        """Merge delta + new entries into the side segment, or everything into a new main."""
        pending_w = [self._delta_words[: self._delta_n], words]
        pending_i = [self._delta_ids[: self._delta_n], ids]
        side_live = self._side.n_live if self._side else 0
        main_live = self._main.n_live if self._main else 0
        pending = self._delta_n + ids.shape[0] + side_live
        if self._side is not None:
            sw, si = self._side.live()
            pending_w.insert(0, sw)
            pending_i.insert(0, si)
        if pending * self.side_ratio >= main_live:
            if self._main is not None:
                mw, mi = self._main.live()
                pending_w.insert(0, mw)
                pending_i.insert(0, mi)
                # The old main stays correct without its tables (searched linearly) if the
                # build below fails; freeing them first keeps the peak memory of a rebuild
                # at ~1.5x instead of 2x the index.
                self._main.drop_tables()
            self._main = self._build(pending_w, pending_i)
            self._side = None
        else:
            self._side = self._build(pending_w, pending_i)
        self._delta_n = 0

    def _build(self, words: list[np.ndarray], ids: list[np.ndarray]) -> _Segment:
        return _Segment.build(words, ids, self.design_radius, self.table_bytes_per_entry, self.tables)

    def remove(self, ids: npt.ArrayLike) -> int:
        gone = np.unique(as_ids(ids))
        if gone.size == 0:
            return 0
        count = 0
        if self._delta_n:
            in_delta = np.isin(self._delta_ids[: self._delta_n], gone)
            hit = int(in_delta.sum())
            if hit:
                keep = np.flatnonzero(~in_delta)
                self._delta_words[: keep.size] = self._delta_words[keep]
                self._delta_ids[: keep.size] = self._delta_ids[keep]
                self._delta_n = int(keep.size)
                count += hit
        for seg in self._segments():
            pos = seg.locate(gone)
            pos = pos[pos >= 0]
            if pos.size:
                seg.kill(pos)
                count += int(pos.size)
        self._compact()
        return count

    def _compact(self) -> None:
        """Rebuild a segment once tombstones make up ``compact_fraction`` of it."""
        for name in ("_main", "_side"):
            seg: _Segment | None = getattr(self, name)
            if seg is None or seg.n_dead == 0:
                continue
            if seg.n_live == 0:
                setattr(self, name, None)
            elif seg.n_dead >= self.compact_fraction * seg.n:
                w, i = seg.live()
                seg.drop_tables()  # still correct (scanned) if the rebuild fails; less peak RAM
                setattr(self, name, self._build([w], [i]))

    # ---- search ---------------------------------------------------------------------------
    def search(self, queries: npt.ArrayLike, radius: int) -> SearchResult:
        q = as_hash_bytes(queries, "queries")
        r = check_radius(radius)
        if q.shape[0] == 0 or len(self) == 0:
            return SearchResult.empty()
        qw = to_words(q)
        parts = [seg.search(qw, r) for seg in self._segments() if seg.n_live]
        if self._delta_n:
            words, ids, dead = self._delta_words[: self._delta_n], self._delta_ids, self._delta_dead

            def run(qb: np.ndarray, counts: np.ndarray, pos: np.ndarray, d: np.ndarray) -> None:
                _kernels.run_linear(qb, words, dead, r, counts, pos, d)

            qi, pos, dist = collect(run, qw)
            parts.append((qi, ids[pos], dist))
        return SearchResult.from_parts(parts)

    # ---- persistence ----------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        arrays: dict[str, np.ndarray] = {
            "delta_hashes": words_to_bytes(self._delta_words[: self._delta_n]),
            "delta_ids": self._delta_ids[: self._delta_n].copy(),
        }
        segments = []
        for name in ("main", "side"):
            seg = getattr(self, f"_{name}")
            if seg is not None:
                arrays.update(seg.arrays(name))
                segments.append({"name": name, **seg.describe()})
        meta = {
            "params": {
                "design_radius": self.design_radius,
                "table_bytes_per_entry": self.table_bytes_per_entry,
                "delta_capacity": self.delta_capacity,
                "side_ratio": self.side_ratio,
                "compact_fraction": self.compact_fraction,
                "tables": self.tables,
            },
            "segments": segments,
            "count": len(self),
        }
        write_index(Path(directory), self.KIND, meta, arrays)

    @classmethod
    def load(cls, directory: Path) -> Self:
        meta, arrays = read_index(Path(directory), cls.KIND)
        try:
            index = cls(**meta["params"])
            segments = list(meta["segments"])
            count = int(meta["count"])
        except (KeyError, TypeError, ValueError) as exc:
            raise IndexFormatError(f"index manifest at {directory} is malformed: {exc}") from exc
        for desc in segments:
            name = desc.get("name") if isinstance(desc, dict) else None
            if name not in ("main", "side") or getattr(index, f"_{name}") is not None:
                raise IndexFormatError(f"index manifest at {directory} lists a bad segment")
            setattr(index, f"_{name}", _Segment.restore(desc, arrays, name))
        d_hashes = require(arrays, "delta_hashes")
        d_ids = require(arrays, "delta_ids")
        k = d_ids.shape[0]
        if (
            d_ids.dtype != np.int64
            or d_ids.ndim != 1
            or d_hashes.dtype != np.uint8
            or d_hashes.shape != (k, HASH_BYTES)
            or k > index.delta_capacity
        ):
            raise IndexFormatError(f"delta arrays of the index at {directory} are malformed")
        index._delta_words[:k] = to_words(d_hashes)
        index._delta_ids[:k] = d_ids
        index._delta_n = k
        live_ids = [d_ids] + [seg.live()[1] for seg in index._segments()]
        all_ids = np.concatenate(live_ids)
        if np.unique(all_ids).shape[0] != all_ids.shape[0]:
            raise IndexFormatError(f"index at {directory} holds an id twice; it is corrupt")
        if len(index) != count:
            raise IndexFormatError(f"index at {directory} holds {len(index)} entries, not {count}")
        return index
