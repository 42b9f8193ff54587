"""PDQ as plain array functions, batched over many regions of one luminance image.

PDQ (Meta, 2019) is: luminance -> tent filter (two box passes per axis, window = side/128)
-> 64x64 decimation -> 16x16 low-frequency DCT -> one bit per coefficient above the median.
Here the tent filter and the decimation are folded into one 64xN weight matrix per axis, so
the 64x64 buffer of any axis-aligned region is ``Wy @ luma @ Wx.T``. That makes hashing dozens
of regions of one image (crops, the photo inside a screenshot) cost a few small matrix
products instead of a full-image filter each, and it works on an image decoded at a reduced
JPEG DCT scale, which is where most of the speed comes from.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

HASH_BITS = 256
HASH_BYTES = HASH_BITS // 8
BUFFER_SIDE = 64
DCT_SIDE = 16

# Quality is PDQ's own heuristic (sum of quantised gradients of the 64x64 buffer / 90, capped
# at 100); 50 is the gate Meta's tools use below which a hash is too flat to be trusted.
QUALITY_GATE = 50


@lru_cache(maxsize=1)
def _dct_matrix() -> np.ndarray:
    i = np.arange(1, DCT_SIDE + 1)[:, None]
    j = np.arange(BUFFER_SIDE)[None, :]
    d = np.sqrt(2.0 / BUFFER_SIDE) * np.cos(np.pi / 2 / BUFFER_SIDE * i * (2 * j + 1))
    return d.astype(np.float32)


@lru_cache(maxsize=512)
def _taps(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Where each of the 64 decimated samples of a span of ``n`` pixels reads, and how much.

    PDQ box-filters twice (window = n/128 rounded up, shrunk at the edges) and then keeps 64
    samples; each sample is therefore a tent over at most two windows of pixels. Returns
    positions (64 x K ints, 0..n-1) and weights (64 x K) with K = twice the window.
    """
    window = max(1, -(-n // 128))
    half = (window + 2) // 2
    lo = np.clip(np.arange(n) + half - window, 0, n)
    hi = np.clip(np.arange(n) + half, 0, n)
    samples = ((np.arange(BUFFER_SIDE) + 0.5) * n / BUFFER_SIDE).astype(np.int64)
    taps = 2 * window
    positions = np.zeros((BUFFER_SIDE, taps), np.int64)
    weights = np.zeros((BUFFER_SIDE, taps), np.float64)
    for row, centre in enumerate(samples):
        first = lo[lo[centre]]
        for j in range(lo[centre], hi[centre]):
            share = 1.0 / ((hi[centre] - lo[centre]) * (hi[j] - lo[j]))
            weights[row, lo[j] - first : hi[j] - first] += share
        positions[row] = np.minimum(first + np.arange(taps), n - 1)
    return positions, weights.astype(np.float32)


def _rows(luma: np.ndarray, start: int, stop: int, flip: bool) -> np.ndarray:
    """The 64 tent-filtered rows of ``luma[start:stop]`` (mirrored top to bottom if ``flip``)."""
    positions, weights = _taps(stop - start)
    index = (stop - 1 - positions) if flip else (start + positions)
    return np.einsum("ak,akw->aw", weights, luma[index])


def _columns(rows: np.ndarray, start: int, stop: int, flip: bool) -> np.ndarray:
    positions, weights = _taps(stop - start)
    index = (stop - 1 - positions) if flip else (start + positions)
    return np.einsum("bk,abk->ab", weights, rows[:, index])


def buffers64(luma: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """64x64 PDQ buffers of the regions ``boxes`` (k x 4 ints: x0, y0, x1, y1) of ``luma``.

    Only the pixels under each sample's tent are read, so a region costs about 64 x 2 windows
    x its width, whatever the size of the image.
    """
    out = np.empty((len(boxes), BUFFER_SIDE, BUFFER_SIDE), dtype=np.float32)
    for k, (x0, y0, x1, y1) in enumerate(boxes.tolist()):
        out[k] = _columns(_rows(luma, y0, y1, False), x0, x1, False)
    return out


def dihedral_buffers(luma: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """8 x 64 x 64: the buffers of the eight rotations/mirrors of one region, exactly.

    PDQ's decimation samples are not symmetric about the centre, so flipping the DCT (below)
    lands 15-25 bits away from hashing really flipped pixels; a copy that was mirrored *and*
    recompressed can then fall past the threshold. Mirroring the sampling positions instead is
    exact, and transposing a buffer is a rotation, so all eight cost little more than one.
    """
    x0, y0, x1, y1 = box
    flips = np.stack(
        [
            _columns(_rows(luma, y0, y1, flip_rows), x0, x1, flip_columns)
            for flip_rows in (False, True)
            for flip_columns in (False, True)
        ]
    )
    return np.concatenate([flips, np.swapaxes(flips, 1, 2)])


def quality(buffers: np.ndarray) -> np.ndarray:
    """PDQ's quality (0..100) of each 64x64 buffer."""
    dy = np.trunc((buffers[:, :-1, :] - buffers[:, 1:, :]) * 100 / 255)
    dx = np.trunc((buffers[:, :, :-1] - buffers[:, :, 1:]) * 100 / 255)
    total = np.abs(dy).sum(axis=(1, 2)) + np.abs(dx).sum(axis=(1, 2))
    return np.minimum(100, (total / 90).astype(np.int64))


def dct16(buffers: np.ndarray) -> np.ndarray:
    d = _dct_matrix()
    return np.einsum("ik,nkl,jl->nij", d, buffers, d, optimize=True)


_BIT_ORDER = np.arange(HASH_BITS - 1, -1, -1)


def dct_to_hash(dct: np.ndarray) -> np.ndarray:
    """Pack ``... x 16 x 16`` DCTs into ``... x 32`` uint8 hashes in PDQ's bit order.

    PDQ sets bit ``i*16+j`` when coefficient (i, j) exceeds the median, and its hex string
    prints bit 255 first; so the flat array is reversed before packing big-endian.
    """
    flat = dct.reshape(*dct.shape[:-2], HASH_BITS)
    median = np.median(flat, axis=-1, keepdims=True)
    bits = flat > median
    return np.packbits(bits[..., _BIT_ORDER], axis=-1)


def hash_regions(luma: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """PDQ hashes (k x 32 uint8) and qualities (k,) of regions of one luminance image."""
    buffers = buffers64(luma, boxes)
    return dct_to_hash(dct16(buffers)), quality(buffers)


def hash_image(luma: np.ndarray) -> tuple[np.ndarray, int]:
    """PDQ hash (32 uint8) and quality of a whole luminance image."""
    h, w = luma.shape
    hashes, qualities = hash_regions(luma, np.array([[0, 0, w, h]]))
    return hashes[0], int(qualities[0])


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bit distance between uint8 hash arrays, broadcasting over leading axes."""
    return np.unpackbits(np.bitwise_xor(a, b), axis=-1).sum(axis=-1)
