"""Brute-force reference index: the oracle the fast index is tested against.

Deliberately simple: every search compares each query with every entry, updates are O(n)
array operations. It is exact by construction, and fast enough for a few hundred thousand
entries or for computing ground truth in benchmarks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Self

import numpy as np
import numpy.typing as npt

from stopspread.errors import IndexFormatError
from stopspread.index import _kernels
from stopspread.index.base import SearchResult, check_radius, collect
from stopspread.index.bits import (
    HASH_BYTES,
    as_hash_bytes,
    as_ids,
    to_words,
    words_to_bytes,
)
from stopspread.index.persist import read_index, require, write_index


def check_new_ids(ids: np.ndarray) -> None:
    """A batch may not repeat an id: which of two hashes would the id mean?"""
    if ids.size > 1:
        uniq, counts = np.unique(ids, return_counts=True)
        if (counts > 1).any():
            dup = uniq[counts > 1][:5].tolist()
            raise ValueError(f"ids repeated within the batch: {dup}")


def dead_bitmap(n: int) -> np.ndarray:
    """Tombstone bitmap with every entry alive (one bit per entry)."""
    return np.zeros((n + 63) // 64 + 1, dtype=np.uint64)


class LinearIndex:
    """Exact Hamming-radius search by scanning every entry."""

    KIND = "LinearIndex"

    def __init__(self) -> None:
        self._words = np.empty((0, 4), dtype=np.uint64)
        self._ids = np.empty(0, dtype=np.int64)

    def __len__(self) -> int:
        return int(self._ids.shape[0])

    def add(self, ids: npt.ArrayLike, hashes: npt.ArrayLike) -> None:
        new_ids = as_ids(ids)
        new_hashes = as_hash_bytes(hashes, "hashes")
        if new_ids.shape[0] != new_hashes.shape[0]:
            raise ValueError(f"{new_ids.shape[0]} ids for {new_hashes.shape[0]} hashes")
        check_new_ids(new_ids)
        clash = new_ids[np.isin(new_ids, self._ids)]
        if clash.size:
            raise ValueError(f"ids already in the index: {clash[:5].tolist()}")
        self._words = to_words(
            np.concatenate([words_to_bytes(self._words), new_hashes]) if len(self) else new_hashes
        )
        self._ids = np.concatenate([self._ids, new_ids])

    def remove(self, ids: npt.ArrayLike) -> int:
        gone = np.isin(self._ids, as_ids(ids))
        count = int(gone.sum())
        if count:
            keep = ~gone
            self._words = to_words(words_to_bytes(self._words[keep]))
            self._ids = self._ids[keep]
        return count

    def search(self, queries: npt.ArrayLike, radius: int) -> SearchResult:
        q = as_hash_bytes(queries, "queries")
        r = check_radius(radius)
        if q.shape[0] == 0 or len(self) == 0:
            return SearchResult.empty()
        words, dead = self._words, dead_bitmap(len(self))

        def run(qw: np.ndarray, counts: np.ndarray, pos: np.ndarray, dist: np.ndarray) -> None:
            _kernels.run_linear(qw, words, dead, r, counts, pos, dist)

        qi, pos, dist = collect(run, to_words(q))
        return SearchResult.from_parts([(qi, self._ids[pos], dist)])

    def hashes(self) -> npt.NDArray[np.uint8]:
        """All stored hashes (n, 32), aligned with :meth:`ids`."""
        return words_to_bytes(self._words)

    def ids(self) -> npt.NDArray[np.int64]:
        return self._ids.copy()

    def memory_bytes(self) -> int:
        return int(self._words.nbytes + self._ids.nbytes)

    def save(self, directory: Path) -> None:
        write_index(
            Path(directory),
            self.KIND,
            {"count": len(self)},
            {"hashes": self.hashes(), "ids": self._ids},
        )

    @classmethod
    def load(cls, directory: Path) -> Self:
        meta, arrays = read_index(Path(directory), cls.KIND)
        hashes = require(arrays, "hashes")
        ids = require(arrays, "ids")
        if (
            hashes.dtype != np.uint8
            or hashes.ndim != 2
            or hashes.shape[1] != HASH_BYTES
            or ids.dtype != np.int64
            or ids.shape != (hashes.shape[0],)
            or meta.get("count") != hashes.shape[0]
        ):
            raise IndexFormatError(f"index at {directory} has inconsistent array shapes")
        if np.unique(ids).shape[0] != ids.shape[0]:
            raise IndexFormatError(f"index at {directory} repeats an id; it is corrupt")
        index = cls()
        index._words = to_words(hashes)
        index._ids = ids.copy()
        return index
