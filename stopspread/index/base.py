"""The contract every Hamming index honours, and the result type they all return.

One interface lets the matching service swap the exact brute-force reference for the fast
multi-index-hashing index (and tests compare the two) without touching callers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Self, runtime_checkable

import numpy as np
import numpy.typing as npt

from stopspread.index.bits import HASH_BITS


@dataclass(frozen=True, eq=False)
class SearchResult:
    """Every (query, entry) pair within the radius, flattened.

    Flat arrays rather than a list per query: a batch of 100k queries then costs three numpy
    arrays instead of 100k Python lists. Sorted by (query_index, distance, id) so output is
    deterministic and the best match of each query comes first.
    """

    query_index: npt.NDArray[np.int32]
    ids: npt.NDArray[np.int64]
    distances: npt.NDArray[np.int16]

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def for_query(self, i: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int16]]:
        """Matches of query ``i`` (ids, distances), nearest first."""
        lo, hi = np.searchsorted(self.query_index, [i, i + 1])
        return self.ids[lo:hi], self.distances[lo:hi]

    @staticmethod
    def empty() -> SearchResult:
        return SearchResult(
            np.empty(0, dtype=np.int32), np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int16)
        )

    @staticmethod
    def from_parts(
        parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    ) -> SearchResult:
        """Concatenate (query_index, ids, distances) parts and put them in canonical order."""
        parts = [p for p in parts if p[0].shape[0]]
        if not parts:
            return SearchResult.empty()
        qi = np.concatenate([p[0] for p in parts]).astype(np.int32, copy=False)
        ids = np.concatenate([p[1] for p in parts]).astype(np.int64, copy=False)
        d = np.concatenate([p[2] for p in parts]).astype(np.int16, copy=False)
        order = np.lexsort((ids, d, qi))
        return SearchResult(qi[order], ids[order], d[order])


@runtime_checkable
class HammingIndex(Protocol):
    """Exact search of 256-bit fingerprints within a Hamming radius.

    Mutations are visible to the very next ``search``: a takedown request must stop matching
    at once, and a newly reported image must match at once. Not safe for concurrent mutation;
    callers serialise writes.
    """

    def add(self, ids: npt.ArrayLike, hashes: npt.ArrayLike) -> None:
        """Add entries; an id already present (or repeated in the batch) raises ValueError and
        nothing is added."""
        ...

    def remove(self, ids: npt.ArrayLike) -> int:
        """Remove entries by id; returns how many were present. Unknown ids are not an error,
        so a retried takedown is harmless."""
        ...

    def search(self, queries: npt.ArrayLike, radius: int) -> SearchResult:
        """All entries with Hamming distance <= radius, for each query."""
        ...

    def __len__(self) -> int: ...

    def save(self, directory: Path) -> None:
        """Write .npy arrays and a versioned manifest.json; never pickle, so a planted index
        file cannot execute code when loaded."""
        ...

    @classmethod
    def load(cls, directory: Path) -> Self:
        """Read what ``save`` wrote; IndexFormatError on missing, corrupt or unknown-version."""
        ...


def check_radius(radius: int) -> int:
    """Radii above 256 mean "everything"; clamp so kernels never see absurd values."""
    if isinstance(radius, bool) or not isinstance(radius, int | np.integer):
        raise TypeError(f"radius must be an int, got {type(radius).__name__}")
    r = int(radius)
    if r < 0:
        raise ValueError(f"radius must be >= 0, got {r}")
    return min(r, HASH_BITS)


KernelRun = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], None]

_CAP = 16
_QUERY_BATCH = 16384


def collect(
    run: KernelRun, qwords: np.ndarray
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int16]]:
    """Drive a kernel that writes up to a fixed number of matches per query.

    Most queries have 0-2 matches, so a small fixed buffer avoids a second counting pass; the
    rare query with more matches (dense clusters, huge radii) is rerun alone with a buffer of
    exactly its size. Returns (query_index, position, distance).
    """
    out_q: list[np.ndarray] = []
    out_p: list[np.ndarray] = []
    out_d: list[np.ndarray] = []
    for b0 in range(0, qwords.shape[0], _QUERY_BATCH):
        qb = qwords[b0 : b0 + _QUERY_BATCH]
        nq = qb.shape[0]
        counts = np.empty(nq, dtype=np.int64)
        pos = np.empty((nq, _CAP), dtype=np.uint32)
        dist = np.empty((nq, _CAP), dtype=np.int16)
        run(qb, counts, pos, dist)
        over = np.flatnonzero(counts > _CAP)
        kept = np.minimum(counts, _CAP)
        if over.size:
            kept[over] = 0
        rows, cols = np.nonzero(np.arange(_CAP)[None, :] < kept[:, None])
        out_q.append(rows + b0)
        out_p.append(pos[rows, cols].astype(np.int64))
        out_d.append(dist[rows, cols])
        if over.size:
            cap2 = int(counts[over].max())
            c2 = np.empty(over.size, dtype=np.int64)
            p2 = np.empty((over.size, cap2), dtype=np.uint32)
            d2 = np.empty((over.size, cap2), dtype=np.int16)
            run(np.ascontiguousarray(qb[over]), c2, p2, d2)
            rows2, cols2 = np.nonzero(np.arange(cap2)[None, :] < c2[:, None])
            out_q.append(over[rows2] + b0)
            out_p.append(p2[rows2, cols2].astype(np.int64))
            out_d.append(d2[rows2, cols2])
    if not out_q:
        return (np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int16))
    return np.concatenate(out_q), np.concatenate(out_p), np.concatenate(out_d)
