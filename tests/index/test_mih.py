"""MultiIndexHashing must return exactly what the brute-force oracle returns."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stopspread.index import HammingIndex, LinearIndex, MultiIndexHashing
from stopspread.index.mih import choose_layout, estimate_memory, plan_radii

from .conftest import assert_same, clustered, flip_bits, near, oracle, random_hashes

Factory = Callable[[], MultiIndexHashing]

FACTORIES: dict[str, Factory] = {
    # cost model decides (small data: linear segments) - exercises the delta/side/main logic
    "auto": lambda: MultiIndexHashing(delta_capacity=40, side_ratio=3),
    # forced tables: the MIH kernels run even on small data
    "m16": lambda: MultiIndexHashing(tables=16, delta_capacity=40, side_ratio=3),
    "m11": lambda: MultiIndexHashing(tables=11, delta_capacity=25, side_ratio=2),
    "m6": lambda: MultiIndexHashing(tables=6, delta_capacity=1000),
}
FORCED = ["m16", "m11", "m6"]


@pytest.fixture(params=list(FACTORIES))
def make(request: pytest.FixtureRequest) -> Factory:
    return FACTORIES[request.param]


@pytest.fixture(params=FORCED)
def make_forced(request: pytest.FixtureRequest) -> Factory:
    return FACTORIES[request.param]


def both(make: Factory, ids: np.ndarray, hashes: np.ndarray) -> tuple[MultiIndexHashing, LinearIndex]:
    index = make()
    index.add(ids, hashes)
    return index, oracle(ids, hashes)


def test_is_a_hamming_index() -> None:
    assert isinstance(MultiIndexHashing(), HammingIndex)
    assert isinstance(LinearIndex(), HammingIndex)


def test_empty_index(make: Factory, rng: np.random.Generator) -> None:
    index = make()
    assert len(index) == 0
    res = index.search(random_hashes(3, rng), 31)
    assert len(res) == 0 and res.ids.dtype == np.int64
    assert len(index.search(np.empty((0, 32), np.uint8), 31)) == 0
    assert index.remove([1, 2]) == 0


def test_one_entry(make: Factory, rng: np.random.Generator) -> None:
    h = random_hashes(1, rng)
    index = make()
    index.add([42], h)
    assert len(index) == 1
    res = index.search(np.concatenate([h, random_hashes(1, rng)]), 31)
    assert res.query_index.tolist() == [0] and res.ids.tolist() == [42]
    assert res.distances.tolist() == [0]


@pytest.mark.parametrize("radius", [0, 1, 7, 15, 31, 32, 47, 64, 80])
def test_entries_at_radius_and_radius_plus_one(make: Factory, rng: np.random.Generator, radius: int) -> None:
    q = random_hashes(1, rng)[0]
    near = np.stack([flip_bits(q, radius, rng) for _ in range(20)])
    far = np.stack([flip_bits(q, radius + 1, rng) for _ in range(20)])
    noise = random_hashes(1500, rng)
    hashes = np.concatenate([near, far, noise])
    ids = rng.choice(100_000, size=hashes.shape[0], replace=False).astype(np.int64)
    index, ref = both(make, ids, hashes)
    got = index.search(q[None, :], radius)
    assert sorted(got.ids.tolist()) == sorted(ids[:20].tolist())
    assert set(got.distances.tolist()) == {radius}
    assert_same(got, ref.search(q[None, :], radius))


@pytest.mark.parametrize("radius", [0, 10, 31, 40, 80, 200])
def test_clustered_data_matches_oracle(make: Factory, rng: np.random.Generator, radius: int) -> None:
    hashes = clustered(3000, rng, centres=20)
    ids = rng.choice(10**9, size=3000, replace=False).astype(np.int64)
    q = np.concatenate([near(hashes, 150, rng), random_hashes(50, rng)])
    index, ref = both(make, ids, hashes)
    got = index.search(q, radius)
    assert_same(got, ref.search(q, radius))
    if radius >= 31:
        assert len(got) > 100  # the comparison is not vacuous


def test_forced_tables_are_probed(make_forced: Factory, rng: np.random.Generator) -> None:
    index = make_forced()
    index.add(np.arange(2000), random_hashes(2000, rng))
    main = index._main
    assert main is not None and main.has_tables
    for radius in (0, 31, 64) if len(main.widths) >= 11 else (0, 31):
        assert main.plan(radius) is not None


def test_duplicate_hashes_under_different_ids(make: Factory, rng: np.random.Generator) -> None:
    h = random_hashes(1, rng)
    hashes = np.concatenate([np.repeat(h, 30, axis=0), random_hashes(500, rng)])
    ids = np.arange(530, dtype=np.int64) * 3 - 700
    index, ref = both(make, ids, hashes)
    got = index.search(h, 0)
    assert sorted(got.ids.tolist()) == sorted(ids[:30].tolist())
    assert_same(got, ref.search(h, 0))


def test_add_rejects_duplicates_atomically(make: Factory, rng: np.random.Generator) -> None:
    index = make()
    index.add([1, 2, 3], random_hashes(3, rng))
    with pytest.raises(ValueError, match="already"):
        index.add([4, 2], random_hashes(2, rng))
    with pytest.raises(ValueError, match="repeated"):
        index.add([5, 5], random_hashes(2, rng))
    assert len(index) == 3
    assert len(index.search(random_hashes(1, rng), 256)) == 3


def test_add_validates_input(rng: np.random.Generator) -> None:
    index = MultiIndexHashing()
    with pytest.raises(ValueError):
        index.add([1, 2], random_hashes(3, rng))
    with pytest.raises(ValueError):
        index.add([1], random_hashes(1, rng).astype(np.int16))
    with pytest.raises(ValueError):
        index.add([1], np.zeros((1, 31), np.uint8))
    with pytest.raises(ValueError):
        index.search(np.zeros((1, 32), np.uint8), -1)
    with pytest.raises(TypeError):
        index.search(np.zeros((1, 32), np.uint8), 3.5)  # type: ignore[arg-type]


def test_add_after_search_is_visible(make: Factory, rng: np.random.Generator) -> None:
    hashes = clustered(800, rng)
    index = make()
    index.add(np.arange(800), hashes)
    q = flip_bits(hashes[0], 0, rng)[None, :]
    assert 10_000 not in index.search(q, 0).ids
    index.add([10_000], q)
    assert 10_000 in index.search(q, 0).ids
    # a batch big enough to trigger a merge is visible too
    more = clustered(300, rng)
    index.add(np.arange(20_000, 20_300), more)
    assert set(range(20_000, 20_300)) <= set(index.search(more, 0).ids.tolist())


def test_remove_is_visible_at_once(make: Factory, rng: np.random.Generator) -> None:
    hashes = clustered(1000, rng)
    ids = np.arange(1000, dtype=np.int64) + 7
    index, ref = both(make, ids, hashes)
    index.add([5000], hashes[:1])  # one entry in the delta
    ref.add([5000], hashes[:1])
    gone = np.array([7, 8, 500, 5000, 1006])
    assert index.remove(gone) == 5
    assert ref.remove(gone) == 5
    res = index.search(hashes[[0, 1, 493, 999]], 31)
    assert not set(gone.tolist()) & set(res.ids.tolist())
    assert_same(res, ref.search(hashes[[0, 1, 493, 999]], 31))
    assert len(index) == len(ref) == 996


def test_remove_unknown_and_repeated_ids(make: Factory, rng: np.random.Generator) -> None:
    index = make()
    index.add([1, 2], random_hashes(2, rng))
    assert index.remove([99, -5]) == 0
    assert index.remove([1, 1, 1]) == 1
    assert index.remove([1]) == 0
    assert len(index) == 1


def test_readd_after_remove(make: Factory, rng: np.random.Generator) -> None:
    hashes = random_hashes(600, rng)
    index = make()
    index.add(np.arange(600), hashes)
    assert index.remove([10]) == 1
    new = random_hashes(1, rng)
    index.add([10], new)  # same id, different hash
    assert index.search(new, 0).ids.tolist() == [10]
    assert 10 not in index.search(hashes[10:11], 0).ids
    assert index.remove([10]) == 1
    assert len(index.search(new, 0)) == 0


def test_merges_keep_results_identical(make: Factory, rng: np.random.Generator) -> None:
    """Small delta and side limits force delta -> side -> main merges and compaction."""
    hashes = clustered(1500, rng, centres=10)
    q = near(hashes, 60, rng)
    index = make()
    ref = LinearIndex()
    stages = set()
    next_id = 0
    for step in range(25):
        k = int(rng.integers(1, 90))
        batch = hashes[next_id : next_id + k]
        ids = np.arange(next_id, next_id + batch.shape[0])
        index.add(ids, batch)
        ref.add(ids, batch)
        next_id += batch.shape[0]
        if step % 3 == 2:
            victims = rng.choice(next_id, size=20, replace=False)
            assert index.remove(victims) == ref.remove(victims)
        d = index.describe()
        stages.add((d["main"] is not None, d["side"] is not None, d["delta"] > 0))
        assert len(index) == len(ref)
        assert_same(index.search(q, 31), ref.search(q, 31))
    assert any(main for main, _, _ in stages)  # a merge into main happened
    if index.delta_capacity < 100:
        assert any(side for _, side, _ in stages)  # and the side segment was used


def test_compaction_after_many_removals(make_forced: Factory, rng: np.random.Generator) -> None:
    hashes = clustered(1200, rng)
    index = make_forced()
    index.add(np.arange(1200), hashes)
    ref = oracle(np.arange(1200), hashes)
    main_before = index._main
    victims = np.arange(0, 1200, 2)
    assert index.remove(victims) == ref.remove(victims) == 600
    assert index._main is not main_before  # rebuilt without tombstones
    assert index._main is not None and index._main.n_dead == 0
    assert_same(index.search(hashes[:100], 40), ref.search(hashes[:100], 40))
    assert index.remove(np.arange(1200)) == 600
    assert len(index) == 0 and len(index.search(hashes[:5], 256)) == 0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    factory=st.sampled_from(list(FACTORIES)),
    ops=st.lists(
        st.tuples(st.sampled_from(["add", "remove", "search"]), st.integers(0, 120)),
        min_size=1,
        max_size=10,
    ),
)
def test_random_operation_sequences(seed: int, factory: str, ops: list[tuple[str, int]]) -> None:
    rng = np.random.default_rng(seed)
    index = FACTORIES[factory]()
    ref = LinearIndex()
    pool = clustered(1500, rng, centres=6, max_flip=70)
    next_id = 0
    for op, arg in ops:
        if op == "add" and next_id + arg <= pool.shape[0]:
            ids = np.arange(next_id, next_id + arg) * 11
            index.add(ids, pool[next_id : next_id + arg])
            ref.add(ids, pool[next_id : next_id + arg])
            next_id += arg
        elif op == "remove":
            victims = rng.integers(0, max(next_id, 1) * 11 + 1, size=arg)
            assert index.remove(victims) == ref.remove(victims)
        q = np.concatenate([near(pool, 5, rng, 60), pool[:3]])
        radius = int(rng.integers(0, 90)) if op == "search" else 31
        assert len(index) == len(ref)
        assert_same(index.search(q, radius), ref.search(q, radius))


def test_plan_radii_satisfy_pigeonhole() -> None:
    widths = (16,) * 16
    for radius in range(0, 120):
        plan = plan_radii(widths, radius, 10**6)
        assert plan is not None
        assert sum(r + 1 for r in plan[0]) >= radius + 1
        assert all(-1 <= r <= 16 for r in plan[0])
    assert plan_radii((8, 8), 30, 100) is None  # 2 chunks of 8 bits cannot cover radius 30


def test_layout_choice_by_size() -> None:
    assert choose_layout(5_000, 31, 64.0) is None  # small: a scan is cheaper
    for n in (10**6, 10**7, 10**8):
        layout = choose_layout(n, 31, 64.0)
        assert layout is not None
        starts, widths = layout
        assert 8 <= len(widths) <= 16
        spans = [*starts[1:], 256]
        assert all(s + w <= e for s, w, e in zip(starts, widths, spans, strict=True))


def test_memory_arithmetic_for_100m_entries() -> None:
    gib = 2**30
    est = estimate_memory(100_000_000)
    assert est["bytes_per_entry"] < 100
    assert est["steady_bytes"] < 10 * gib
    assert est["rebuild_peak_bytes"] < 18 * gib  # the machine has 24 GiB


def test_memory_estimate_matches_measured(rng: np.random.Generator) -> None:
    n = 300_000
    index = MultiIndexHashing()
    index.add(np.arange(n), random_hashes(n, rng))
    measured = sum(index.memory_bytes().values()) - index.memory_bytes()["delta"]
    est = estimate_memory(n)["steady_bytes"]
    assert abs(measured - est) / est < 0.05
    assert index._main is not None and index._main.has_tables
    q = np.concatenate([index._main.words[:50].view(np.uint8).reshape(-1, 32)])
    assert sorted(index.search(q, 0).ids.tolist()) == sorted(index._main.ids[:50].tolist())
