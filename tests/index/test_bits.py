from __future__ import annotations

import numpy as np
import pytest

from stopspread.errors import InvalidSignalError
from stopspread.index import hashes_from_hex, hashes_to_hex
from stopspread.index.bits import aligned_empty, as_ids, hamming_numpy, to_words


def test_hex_round_trip_keeps_byte_order() -> None:
    h = "f" * 2 + "0" * 60 + "0a"
    arr = hashes_from_hex([h])
    assert arr.shape == (1, 32) and arr.dtype == np.uint8
    assert arr[0, 0] == 0xFF and arr[0, 31] == 0x0A
    assert hashes_to_hex(arr) == [h]


def test_hex_empty_list() -> None:
    assert hashes_from_hex([]).shape == (0, 32)


@pytest.mark.parametrize("bad", ["abc", "g" * 64, "0" * 63, "0" * 66])
def test_hex_rejects_bad_strings(bad: str) -> None:
    with pytest.raises(InvalidSignalError):
        hashes_from_hex([bad])


def test_words_view_preserves_distance() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, size=(20, 32), dtype=np.uint8)
    w = to_words(a)
    assert w.ctypes.data % 64 == 0
    d_bytes = hamming_numpy(a, a)
    d_words = np.bitwise_count(w[:, None, :] ^ w[None, :, :]).sum(axis=2)
    assert np.array_equal(d_bytes, d_words)


def test_aligned_empty_is_aligned() -> None:
    for n in (1, 3, 1000):
        assert aligned_empty((n, 4), np.uint64).ctypes.data % 64 == 0


def test_ids_must_be_integers() -> None:
    with pytest.raises(ValueError):
        as_ids(np.array([1.0, 2.0]))
    with pytest.raises(ValueError):
        as_ids(np.array([[1, 2]]))
    assert as_ids([1, 2]).dtype == np.int64
