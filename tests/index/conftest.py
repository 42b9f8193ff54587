"""Helpers shared by the index tests: random fingerprints with controlled distances."""

from __future__ import annotations

import numpy as np
import pytest

from stopspread.index import LinearIndex, SearchResult


def flip_bits(h: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """A copy of hash ``h`` (32 bytes) with exactly ``k`` distinct bits flipped."""
    bits = np.unpackbits(h.copy())
    idx = rng.choice(256, size=k, replace=False)
    bits[idx] ^= 1
    return np.packbits(bits)


def random_hashes(n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 256, size=(n, 32), dtype=np.uint8)


def clustered(n: int, rng: np.random.Generator, centres: int = 8, max_flip: int = 40) -> np.ndarray:
    """Hashes around a few centres, so many pairs fall within typical radii (uniform random
    hashes are ~128 apart and would make every search trivially empty)."""
    c = random_hashes(centres, rng)
    return np.stack(
        [flip_bits(c[rng.integers(centres)], int(rng.integers(0, max_flip)), rng) for _ in range(n)]
    )


def near(hashes: np.ndarray, k: int, rng: np.random.Generator, max_flip: int = 40) -> np.ndarray:
    """k queries, each a random stored hash with up to ``max_flip`` bits flipped."""
    rows = hashes[rng.integers(0, hashes.shape[0], size=k)]
    return np.stack([flip_bits(r, int(rng.integers(0, max_flip + 1)), rng) for r in rows])


def as_tuples(res: SearchResult) -> list[tuple[int, int, int]]:
    return list(zip(res.query_index.tolist(), res.ids.tolist(), res.distances.tolist(), strict=True))


def assert_same(a: SearchResult, b: SearchResult) -> None:
    assert a.query_index.dtype == np.int32
    assert a.ids.dtype == np.int64
    assert a.distances.dtype == np.int16
    assert as_tuples(a) == as_tuples(b)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


def oracle(ids: np.ndarray, hashes: np.ndarray) -> LinearIndex:
    index = LinearIndex()
    index.add(ids, hashes)
    return index
