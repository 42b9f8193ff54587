"""LinearIndex is the oracle, so it is itself checked against plain numpy distances."""

from __future__ import annotations

import numpy as np
import pytest

from stopspread.index import LinearIndex, SearchResult
from stopspread.index.bits import hamming_numpy

from .conftest import clustered


def numpy_truth(ids: np.ndarray, hashes: np.ndarray, q: np.ndarray, r: int) -> SearchResult:
    d = hamming_numpy(q, hashes)
    qi, ei = np.nonzero(d <= r)
    return SearchResult.from_parts([(qi, ids[ei], d[qi, ei])])


@pytest.mark.parametrize("radius", [0, 5, 31, 32, 64, 128, 256])
def test_linear_matches_numpy(rng: np.random.Generator, radius: int) -> None:
    hashes = clustered(700, rng)
    ids = rng.permutation(10_000)[:700].astype(np.int64)
    q = np.concatenate([clustered(60, rng), hashes[:5]])
    index = LinearIndex()
    index.add(ids, hashes)
    got = index.search(q, radius)
    want = numpy_truth(ids, hashes, q, radius)
    assert np.array_equal(got.query_index, want.query_index)
    assert np.array_equal(got.ids, want.ids)
    assert np.array_equal(got.distances, want.distances)
    if radius >= 31:
        assert len(got) > 0


def test_results_are_sorted_by_query_distance_id(rng: np.random.Generator) -> None:
    hashes = clustered(400, rng, centres=2)
    index = LinearIndex()
    index.add(np.arange(400)[::-1].copy(), hashes)
    res = index.search(hashes[:10], 60)
    keys = list(zip(res.query_index, res.distances, res.ids, strict=True))
    assert keys == sorted(keys)
    _, dist = res.for_query(3)
    assert dist[0] == 0 and list(dist) == sorted(dist)


def test_linear_overflowing_result_buffer(rng: np.random.Generator) -> None:
    # 300 identical hashes: every query matches far more entries than the per-query buffer.
    h = np.repeat(clustered(1, rng), 300, axis=0)
    index = LinearIndex()
    index.add(np.arange(300), h)
    res = index.search(np.concatenate([h[:2], clustered(3, rng)]), 0)
    assert sorted(res.for_query(0)[0].tolist()) == list(range(300))
    assert len(res.for_query(1)[0]) == 300


def test_linear_updates(rng: np.random.Generator) -> None:
    h = clustered(50, rng)
    index = LinearIndex()
    index.add(np.arange(50), h)
    with pytest.raises(ValueError, match="already"):
        index.add([3], h[:1])
    assert index.remove([3, 3, 999]) == 1
    assert len(index) == 49
    assert 3 not in index.search(h[3:4], 0).ids
    index.add([3], h[3:4])
    assert index.search(h[3:4], 0).ids.tolist() == [3]
