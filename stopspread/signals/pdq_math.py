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


def _box_weights(n: int, window: int) -> np.ndarray:
    """The n x n matrix of PDQ's 1-D box pass: a centred window, shrunk at the edges."""
    half = (window + 2) // 2
    lo = np.arange(n) + half - window
    hi = np.arange(n) + half
    cols = np.arange(n)[None, :]
    mask = (cols >= np.maximum(lo, 0)[:, None]) & (cols < np.minimum(hi, n)[:, None])
    return mask / mask.sum(axis=1, keepdims=True)


@lru_cache(maxsize=256)
def _axis_weights(start: int, stop: int, full: int) -> np.ndarray:
    """64 x ``full`` weights sampling the tent-filtered span [start, stop) of an axis."""
    n = stop - start
    window = max(1, -(-n // 128))
    box = _box_weights(n, window)
    tent = box @ box
    rows = ((np.arange(BUFFER_SIDE) + 0.5) * n / BUFFER_SIDE).astype(np.int64)
    w = np.zeros((BUFFER_SIDE, full), dtype=np.float32)
    w[:, start:stop] = tent[rows]
    w.setflags(write=False)
    return w


def buffers64(luma: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """64x64 PDQ buffers of the regions ``boxes`` (k x 4 ints: x0, y0, x1, y1) of ``luma``."""
    h, w = luma.shape
    out = np.empty((len(boxes), BUFFER_SIDE, BUFFER_SIDE), dtype=np.float32)
    rows_cache: dict[tuple[int, int], np.ndarray] = {}
    for k, (x0, y0, x1, y1) in enumerate(boxes.tolist()):
        key = (y0, y1)
        rows = rows_cache.get(key)
        if rows is None:
            rows = _axis_weights(y0, y1, h) @ luma
            rows_cache[key] = rows
        out[k] = rows @ _axis_weights(x0, x1, w).T
    return out


def dihedral_buffers(luma: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """8 x 64 x 64: the buffers of the eight rotations/mirrors of one region, exactly.

    PDQ's decimation samples are not symmetric about the centre, so flipping the DCT (below)
    lands 15-25 bits away from hashing really flipped pixels; a copy that was mirrored *and*
    recompressed can then fall past the threshold. Flipping the weight matrices instead is
    exact, and transposing a buffer is a rotation, so eight buffers cost two large products.
    """
    h, w = luma.shape
    x0, y0, x1, y1 = box
    wy, wx = _axis_weights(y0, y1, h), _axis_weights(x0, x1, w)
    # Reversing a weight row's span mirrors the sampling positions inside the region.
    wy_flip = np.zeros_like(wy)
    wy_flip[:, y0:y1] = wy[:, y0:y1][:, ::-1]
    wx_flip = np.zeros_like(wx)
    wx_flip[:, x0:x1] = wx[:, x0:x1][:, ::-1]
    rows = (wy @ luma, wy_flip @ luma)
    flips = np.stack([r @ c.T for r in rows for c in (wx, wx_flip)])
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


# Dihedral transforms act on the DCT directly: a flip negates every other row or column and a
# transpose swaps axes, so all eight orientations cost one DCT (facts from the PDQ paper).
_ODD = (np.arange(DCT_SIDE) % 2).astype(bool)
_SIGN_FLIP_ROWS = np.where(_ODD[:, None], 1.0, -1.0) * np.ones((1, DCT_SIDE))
_SIGN_FLIP_COLS = _SIGN_FLIP_ROWS.T


def dihedral_dcts(dct: np.ndarray) -> np.ndarray:
    """k x 8 x 16 x 16: the DCTs of the eight rotations/mirrors of each image."""
    t = np.swapaxes(dct, -1, -2)
    flip_x = dct * _SIGN_FLIP_ROWS
    flip_y = dct * _SIGN_FLIP_COLS
    rot180 = dct * _SIGN_FLIP_ROWS * _SIGN_FLIP_COLS
    variants = [
        dct,
        np.swapaxes(flip_y, -1, -2),  # rotate 90
        rot180,
        np.swapaxes(flip_x, -1, -2),  # rotate 270
        flip_x,
        flip_y,
        t,  # transpose
        np.swapaxes(rot180, -1, -2),  # anti-transpose
    ]
    return np.stack(variants, axis=1)


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
