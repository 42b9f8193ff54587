"""Conversions between PDQ hex strings, byte rows and the uint64 words the kernels use.

The canonical in-memory form is ``(n, 32) uint8``: the bytes of the 64-hex PDQ string in the
order ``bytes.fromhex`` gives them. Kernels read the same memory as ``(n, 4) uint64``; Hamming
distance does not depend on bit order, so the reinterpretation needs no byte swapping.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

from stopspread.errors import InvalidSignalError

HASH_BITS = 256
HASH_BYTES = HASH_BITS // 8
HASH_WORDS = HASH_BITS // 64
_HEX_LEN = HASH_BYTES * 2
ALIGN = 64


def hashes_from_hex(hex_strings: Iterable[str]) -> npt.NDArray[np.uint8]:
    """Parse 64-hex-digit PDQ strings; a bad string raises rather than silently matching nothing."""
    rows: list[bytes] = []
    for i, s in enumerate(hex_strings):
        text = s.strip()
        if len(text) != _HEX_LEN:
            raise InvalidSignalError(
                f"hash #{i} has {len(text)} hex digits; a PDQ hash has {_HEX_LEN}: {s!r}"
            )
        try:
            rows.append(bytes.fromhex(text))
        except ValueError:
            raise InvalidSignalError(f"hash #{i} is not hexadecimal: {s!r}") from None
    if not rows:
        return np.empty((0, HASH_BYTES), dtype=np.uint8)
    return np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(-1, HASH_BYTES).copy()


def hashes_to_hex(hashes: npt.ArrayLike) -> list[str]:
    """Inverse of :func:`hashes_from_hex`, for reports and round trips."""
    arr = as_hash_bytes(hashes, "hashes")
    return [row.tobytes().hex() for row in arr]


def as_hash_bytes(hashes: npt.ArrayLike, what: str) -> npt.NDArray[np.uint8]:
    """Validate caller input early so a wrong shape cannot be misread as other bits."""
    arr = np.asarray(hashes)
    if arr.dtype != np.uint8:
        raise ValueError(f"{what} must have dtype uint8, got {arr.dtype}")
    if arr.ndim != 2 or arr.shape[1] != HASH_BYTES:
        raise ValueError(f"{what} must have shape (n, {HASH_BYTES}), got {arr.shape}")
    return arr


def as_ids(ids: npt.ArrayLike, what: str = "ids") -> npt.NDArray[np.int64]:
    """Accept any integer array but refuse floats, which would silently lose ids above 2**53."""
    arr = np.asarray(ids)
    if arr.ndim != 1:
        raise ValueError(f"{what} must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        return np.empty(0, dtype=np.int64)
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{what} must be integers, got {arr.dtype}")
    if arr.dtype == np.uint64 and arr.size and int(arr.max()) > np.iinfo(np.int64).max:
        raise ValueError(f"{what} must fit in int64")
    return arr.astype(np.int64, copy=False)


def aligned_empty(shape: int | Sequence[int], dtype: npt.DTypeLike) -> np.ndarray:
    """Cache-line aligned allocation: a 32-byte hash row then never straddles two cache lines,
    so verifying a candidate costs one memory access, not two."""
    dt = np.dtype(dtype)
    shp = (shape,) if isinstance(shape, int) else tuple(shape)
    count = int(np.prod(shp, dtype=np.int64))
    raw = np.empty(count * dt.itemsize + ALIGN, dtype=np.uint8)
    offset = (-raw.ctypes.data) % ALIGN
    return raw[offset : offset + count * dt.itemsize].view(dt).reshape(shp)


def to_words(hashes: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint64]:
    """(n, 32) uint8 -> (n, 4) uint64 in aligned memory (copies once)."""
    out = aligned_empty((hashes.shape[0], HASH_WORDS), np.uint64)
    out.view(np.uint8).reshape(-1, HASH_BYTES)[:] = hashes
    return out


def words_to_bytes(words: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint8]:
    """(n, 4) uint64 -> (n, 32) uint8 copy, the public form."""
    return np.ascontiguousarray(words).view(np.uint8).reshape(-1, HASH_BYTES).copy()


def hamming_numpy(a: npt.NDArray[np.uint8], b: npt.NDArray[np.uint8]) -> npt.NDArray[np.int64]:
    """Pairwise distances with plain numpy (no numba): an independent check of the kernels."""
    x = np.bitwise_xor(a[:, None, :], b[None, :, :])
    return np.bitwise_count(x).sum(axis=2, dtype=np.int64)
