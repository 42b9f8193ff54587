"""Save/load round trips, and clear IndexFormatError on anything missing or damaged."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from stopspread.errors import IndexFormatError
from stopspread.index import LinearIndex, MultiIndexHashing, index_class, open_index

from .conftest import assert_same, clustered, near


def populated(rng: np.random.Generator) -> tuple[MultiIndexHashing, np.ndarray]:
    """An index with a main and a side segment, tombstones and a non-empty delta."""
    hashes = clustered(2000, rng)
    index = MultiIndexHashing(tables=12, delta_capacity=100, side_ratio=3)
    index.add(np.arange(1500), hashes[:1500])
    index.add(np.arange(1500, 1800), hashes[1500:1800])  # -> side
    index.add(np.arange(1800, 1850), hashes[1800:1850])  # -> delta
    index.remove(np.arange(0, 200, 7))
    d = index.describe()
    assert d["main"]["n_dead"] > 0 and d["side"] is not None and d["delta"] == 50
    return index, hashes


@pytest.mark.parametrize("kind", ["mih", "linear"])
def test_round_trip_gives_identical_results(tmp_path: Path, rng: np.random.Generator, kind: str) -> None:
    index: MultiIndexHashing | LinearIndex
    if kind == "mih":
        index, hashes = populated(rng)
    else:
        hashes = clustered(1000, rng)
        index = LinearIndex()
        index.add(np.arange(1000) * 3, hashes)
    index.save(tmp_path / "idx")
    loaded = open_index(tmp_path / "idx")
    assert type(loaded) is type(index)
    assert len(loaded) == len(index)
    q = near(hashes, 200, rng)
    for radius in (0, 31, 70):
        assert_same(loaded.search(q, radius), index.search(q, radius))
    # the loaded index keeps working: updates, merges, removals
    loaded.add([10**6], q[:1])
    assert 10**6 in loaded.search(q[:1], 0).ids
    assert loaded.remove([10**6]) == 1


def test_loaded_mih_keeps_its_tables(tmp_path: Path, rng: np.random.Generator) -> None:
    index, _ = populated(rng)
    index.save(tmp_path)
    loaded = MultiIndexHashing.load(tmp_path)
    assert loaded.describe() == index.describe()
    assert loaded._main is not None and loaded._main.has_tables


def test_no_pickle_in_saved_arrays(tmp_path: Path, rng: np.random.Generator) -> None:
    index, _ = populated(rng)
    index.save(tmp_path)
    for f in tmp_path.glob("*.npy"):
        np.load(f, allow_pickle=False)  # raises if an object array had been written
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["version"] == 1 and manifest["kind"] == "MultiIndexHashing"


@pytest.fixture
def saved(tmp_path: Path, rng: np.random.Generator) -> Path:
    index, _ = populated(rng)
    index.save(tmp_path)
    return tmp_path


def _edit_manifest(directory: Path, edit) -> None:  # type: ignore[no-untyped-def]
    path = directory / "manifest.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))


def test_missing_manifest(tmp_path: Path) -> None:
    with pytest.raises(IndexFormatError, match=r"manifest\.json is missing"):
        open_index(tmp_path)
    with pytest.raises(IndexFormatError, match="missing"):
        MultiIndexHashing.load(tmp_path / "nowhere")


def test_corrupt_manifest(saved: Path) -> None:
    (saved / "manifest.json").write_text('{"format": "stopspread-hamming-index", "vers')
    with pytest.raises(IndexFormatError, match="not valid JSON"):
        open_index(saved)


def test_unknown_version(saved: Path) -> None:
    _edit_manifest(saved, lambda m: m.update(version=2))
    with pytest.raises(IndexFormatError, match="version 2"):
        MultiIndexHashing.load(saved)


def test_not_an_index_manifest(saved: Path) -> None:
    _edit_manifest(saved, lambda m: m.update(format="something-else"))
    with pytest.raises(IndexFormatError, match="not a stopspread index"):
        open_index(saved)


def test_wrong_kind(saved: Path) -> None:
    with pytest.raises(IndexFormatError, match="open_index"):
        LinearIndex.load(saved)
    _edit_manifest(saved, lambda m: m.update(kind="BTree"))
    with pytest.raises(IndexFormatError, match="unknown kind"):
        index_class(saved)


def test_missing_array_file(saved: Path) -> None:
    (saved / "main_perm.npy").unlink()
    with pytest.raises(IndexFormatError, match=r"main_perm\.npy.*missing"):
        open_index(saved)


def test_flipped_byte_fails_checksum(saved: Path) -> None:
    path = saved / "main_hashes.npy"
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(IndexFormatError, match="checksum"):
        open_index(saved)


def test_consistent_checksum_but_bad_positions(saved: Path) -> None:
    """A tool that rewrites arrays and checksums must still not make the kernels read out of
    bounds."""
    from stopspread.index.persist import _sha256

    path = saved / "main_perm.npy"
    perm = np.load(path)
    perm[3] = 10**6
    np.save(path, perm)
    _edit_manifest(saved, lambda m: m["arrays"]["main_perm"].update(sha256=_sha256(path)))
    with pytest.raises(IndexFormatError, match="past the end"):
        open_index(saved)


def test_count_mismatch(saved: Path) -> None:
    _edit_manifest(saved, lambda m: m["meta"].update(count=5))
    with pytest.raises(IndexFormatError, match="entries"):
        open_index(saved)


def test_missing_array_entry(saved: Path) -> None:
    _edit_manifest(saved, lambda m: m["arrays"].pop("delta_ids"))
    with pytest.raises(IndexFormatError, match="delta_ids"):
        open_index(saved)


def test_path_escape_in_manifest(saved: Path) -> None:
    _edit_manifest(saved, lambda m: m["arrays"]["delta_ids"].update(file="../delta_ids.npy"))
    with pytest.raises(IndexFormatError, match="missing"):
        open_index(saved)
