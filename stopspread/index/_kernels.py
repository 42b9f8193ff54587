"""Numba kernels shared by the indexes.

All kernels take hashes as ``(n, 4) uint64`` and write matches into caller-owned buffers of a
fixed capacity per query (``counts`` keeps counting past the capacity, so the caller can rerun
the few overflowing queries with a bigger buffer instead of every query paying for a two-pass
count-then-fill).
"""

from __future__ import annotations

import types as pytypes
from typing import Any

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

_U1 = np.uint64(1)
_U0 = np.uint64(0)


@intrinsic
def _ctpop(typingctx, x):  # type: ignore[no-untyped-def]
    """LLVM's ctpop: one POPCNT instruction, which numba does not expose by itself."""
    if not isinstance(x, types.Integer):
        return None
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.ctpop(args[0])

    return sig, codegen


@intrinsic
def prefetch(typingctx, arr, i):  # type: ignore[no-untyped-def]
    """Software prefetch of row ``i`` into L2 (x86 PREFETCHT1): lets the kernels issue the
    cache misses of a whole batch of candidates before they need any of them. L2 rather than
    L1 measured ~15 % faster: hundreds of lines are in flight and L1 is too small to hold them."""
    if not isinstance(arr, types.Array) or not isinstance(i, types.Integer):
        return None
    sig = types.void(arr, i)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        aryty, ity = signature.args
        ary = context.make_array(aryty)(context, builder, args[0])
        zero = context.get_constant(types.intp, 0)
        inds = [context.cast(builder, args[1], ity, types.intp)] + [zero] * (aryty.ndim - 1)
        ptr = cgutils.get_item_pointer2(
            context,
            builder,
            data=ary.data,
            shape=cgutils.unpack_tuple(builder, ary.shape),
            strides=cgutils.unpack_tuple(builder, ary.strides),
            layout=aryty.layout,
            inds=inds,
            wraparound=False,
        )
        i8p = builder.bitcast(ptr, ir.IntType(8).as_pointer())
        name = "llvm.prefetch.p0" if getattr(i8p.type, "is_opaque", False) else "llvm.prefetch.p0i8"
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p.type, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, name)
        builder.call(fn, [i8p, i32(0), i32(2), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


@njit(inline="always", nogil=True)
def popcount64(x: np.uint64) -> np.int64:
    return np.int64(_ctpop(np.uint64(x)))


@njit(inline="always", nogil=True)
def chunk_of(h: np.ndarray, i: int, start: int, width: int) -> np.uint64:
    """Bits [start, start+width) of row i, viewing the row as one 256-bit little-endian number."""
    k = start >> 6
    o = start & 63
    v = h[i, k] >> np.uint64(o)
    if o + width > 64:
        v |= h[i, k + 1] << np.uint64(64 - o)
    return v & ((_U1 << np.uint64(width)) - _U1)


@njit(inline="always", nogil=True)
def _is_dead(dead: np.ndarray, pos: int) -> bool:
    return ((dead[pos >> 6] >> np.uint64(pos & 63)) & _U1) != _U0


def _linear_search(
    q: np.ndarray,
    h: np.ndarray,
    dead: np.ndarray,
    radius: int,
    counts: np.ndarray,
    out_pos: np.ndarray,
    out_d: np.ndarray,
) -> None:
    """Brute force, tiled so a block of entries stays in L2 while a group of queries passes over
    it (memory traffic drops by the group size). Results per query come out in position order."""
    nq = q.shape[0]
    n = h.shape[0]
    cap = out_pos.shape[1]
    qb = 8
    eb = 8192
    ntask = (nq + qb - 1) // qb
    for t in prange(ntask):
        q_lo = t * qb
        q_hi = min(nq, q_lo + qb)
        for qi in range(q_lo, q_hi):
            counts[qi] = 0
        for e_lo in range(0, n, eb):
            e_hi = min(n, e_lo + eb)
            for qi in range(q_lo, q_hi):
                a0 = q[qi, 0]
                a1 = q[qi, 1]
                a2 = q[qi, 2]
                a3 = q[qi, 3]
                c = counts[qi]
                for i in range(e_lo, e_hi):
                    d = (
                        popcount64(h[i, 0] ^ a0)
                        + popcount64(h[i, 1] ^ a1)
                        + popcount64(h[i, 2] ^ a2)
                        + popcount64(h[i, 3] ^ a3)
                    )
                    if d <= radius and not _is_dead(dead, i):
                        if c < cap:
                            out_pos[qi, c] = i
                            out_d[qi, c] = d
                        c += 1
                counts[qi] = c


@njit(nogil=True)
def _bucket_starts(h: np.ndarray, start: int, width: int) -> np.ndarray:
    """Exclusive prefix sum of bucket sizes: entry k is where bucket k begins (CSR offsets)."""
    nb = 1 << width
    offs = np.zeros(nb + 1, dtype=np.uint32)
    for i in range(h.shape[0]):
        offs[np.int64(chunk_of(h, i, start, width)) + 1] += 1
    for b in range(nb):
        offs[b + 1] += offs[b]
    return offs


@njit(parallel=True, cache=True, nogil=True)
def choose_group_shifts(
    h: np.ndarray, starts: np.ndarray, widths: np.ndarray, target: np.ndarray
) -> np.ndarray:
    """Per table, the coarsest bucket grouping (<= target) whose groups hold <= 255 entries.

    Offsets are stored as a uint32 per group of 2**shift buckets plus a uint8 per bucket
    (position within its group), ~1.1 bytes per bucket instead of 4. Skewed data (many equal
    chunks) only makes the grouping finer, never wrong: shift 0 always fits."""
    m = starts.shape[0]
    out = np.zeros(m, dtype=np.int64)
    for j in prange(m):
        offs = _bucket_starts(h, starts[j], widths[j])
        nb = 1 << widths[j]
        gs = target[j]
        while gs > 0:
            ok = True
            size = 1 << gs
            for g0 in range(0, nb, size):
                if offs[g0 + size] - offs[g0] > 255:
                    ok = False
                    break
            if ok:
                break
            gs -= 1
        out[j] = gs
    return out


@njit(parallel=True, cache=True, nogil=True)
def build_tables(
    h: np.ndarray,
    starts: np.ndarray,
    widths: np.ndarray,
    gshift: np.ndarray,
    cbase: np.ndarray,
    fbase: np.ndarray,
    coarse: np.ndarray,
    fine: np.ndarray,
    perm: np.ndarray,
) -> None:
    """Counting sort of positions by each table's chunk value, O(n) per table, one table per
    thread. Positions inside a bucket stay ascending, so reads of one bucket move forward."""
    m = starts.shape[0]
    n = h.shape[0]
    for j in prange(m):
        s = starts[j]
        w = widths[j]
        gs = gshift[j]
        nb = 1 << w
        offs = _bucket_starts(h, s, w)
        cb = cbase[j]
        fb = fbase[j]
        for g in range((nb >> gs) + 1):
            coarse[cb + g] = offs[g << gs]
        for k in range(nb + 1):
            fine[fb + k] = offs[k] - coarse[cb + (k >> gs)]
        pb = j * n
        for i in range(n):
            k = np.int64(chunk_of(h, i, s, w))
            perm[pb + offs[k]] = i
            offs[k] += 1


@njit(inline="always", nogil=True)
def _verify(
    buf: np.ndarray,
    tbuf: np.ndarray,
    nb: int,
    qi: int,
    q: np.ndarray,
    qk: np.ndarray,
    h: np.ndarray,
    dead: np.ndarray,
    starts: np.ndarray,
    widths: np.ndarray,
    radii: np.ndarray,
    radius: int,
    c: int,
    out_pos: np.ndarray,
    out_d: np.ndarray,
) -> int:
    """Check buffered candidates (``tbuf`` holds the table each came from); returns the
    updated match count.

    A tight loop whose only branch (a match) is almost never taken, with a prefetch a few
    candidates ahead, so many cache misses are in flight at once."""
    cap = out_pos.shape[1]
    a0 = q[qi, 0]
    a1 = q[qi, 1]
    a2 = q[qi, 2]
    a3 = q[qi, 3]
    for k in range(nb):
        prefetch(h, np.int64(buf[k + _AHEAD]))
        pos = np.int64(buf[k])
        d = (
            popcount64(h[pos, 0] ^ a0)
            + popcount64(h[pos, 1] ^ a1)
            + popcount64(h[pos, 2] ^ a2)
            + popcount64(h[pos, 3] ^ a3)
        )
        if d <= radius:
            seen_earlier = False
            for i in range(np.int64(tbuf[k])):
                if radii[i] >= 0:
                    di = popcount64(chunk_of(h, pos, starts[i], widths[i]) ^ qk[i])
                    if di <= radii[i]:
                        seen_earlier = True
                        break
            if not seen_earlier and not _is_dead(dead, pos):
                if c < cap:
                    out_pos[qi, c] = pos
                    out_d[qi, c] = d
                c += 1
    return c


_AHEAD = 32
_BUF = 4096
_CHUNK = 256


def _mih_search(
    q: np.ndarray,
    h: np.ndarray,
    dead: np.ndarray,
    perm: np.ndarray,
    coarse: np.ndarray,
    fine: np.ndarray,
    cbase: np.ndarray,
    fbase: np.ndarray,
    gshift: np.ndarray,
    starts: np.ndarray,
    widths: np.ndarray,
    radii: np.ndarray,
    masks: np.ndarray,
    mtable: np.ndarray,
    radius: int,
    counts: np.ndarray,
    out_pos: np.ndarray,
    out_d: np.ndarray,
) -> None:
    """Multi-index hashing probe + verify.

    Table j is probed with every key within ``radii[j]`` of the query's chunk j (``masks``
    holds the XOR patterns of all tables back to back, ``mtable`` which table each is for).
    Exactness: the chunks are disjoint and sum(radii + 1) > radius, so an entry within
    ``radius`` is within ``radii[j]`` on at least one chunk. It is reported only from the
    first such table, which removes duplicates without a per-query hash set.

    Buckets hold ~1-4 entries, so the cost is cache misses, not arithmetic. Hence a chunk of
    probes (across tables) runs in stages so that many misses are in flight at once:
    prefetch the bucket offsets of all, then read them and prefetch the buckets, then copy
    the buckets' positions into a buffer while prefetching each candidate's hash; the buffer
    is verified once full (or at the end), prefetching further ahead.
    """
    nq = q.shape[0]
    m = starts.shape[0]
    n = h.shape[0]
    total = masks.shape[0]
    for qi in prange(nq):
        qk = np.empty(m, dtype=np.uint64)
        buf = np.zeros(_BUF + _AHEAD, dtype=np.uint32)
        tbuf = np.zeros(_BUF, dtype=np.uint8)
        keys = np.empty(_CHUNK, dtype=np.int64)
        los = np.empty(_CHUNK, dtype=np.int64)
        lens = np.empty(_CHUNK, dtype=np.int64)
        for j in range(m):
            qk[j] = chunk_of(q, qi, starts[j], widths[j])
        c = 0
        nb = 0
        for g0 in range(0, total, _CHUNK):
            g1 = min(total, g0 + _CHUNK)
            for g in range(g0, g1):
                j = np.int64(mtable[g])
                key = np.int64(qk[j] ^ masks[g])
                keys[g - g0] = key
                prefetch(fine, fbase[j] + key)
            for k in range(g1 - g0):
                j = np.int64(mtable[g0 + k])
                key = keys[k]
                cb = cbase[j]
                gs = gshift[j]
                fk = fbase[j] + key
                lo = np.int64(coarse[cb + (key >> gs)]) + np.int64(fine[fk])
                hi = np.int64(coarse[cb + ((key + 1) >> gs)]) + np.int64(fine[fk + 1])
                los[k] = j * n + lo
                lens[k] = hi - lo
                prefetch(perm, j * n + lo)
            for k in range(g1 - g0):
                tj = mtable[g0 + k]
                lo = los[k]
                for p in range(lo, lo + lens[k]):
                    if nb == _BUF:
                        c = _verify(
                            buf,
                            tbuf,
                            nb,
                            qi,
                            q,
                            qk,
                            h,
                            dead,
                            starts,
                            widths,
                            radii,
                            radius,
                            c,
                            out_pos,
                            out_d,
                        )
                        nb = 0
                    pos = perm[p]
                    prefetch(h, pos)
                    buf[nb] = pos
                    tbuf[nb] = tj
                    nb += 1
        c = _verify(buf, tbuf, nb, qi, q, qk, h, dead, starts, widths, radii, radius, c, out_pos, out_d)
        counts[qi] = c


def _renamed(fn: Any, name: str) -> Any:
    """The same Python function under another name: numba names its on-disk cache after the
    function, and a serial and a parallel compilation must not share (and overwrite) one."""
    clone = pytypes.FunctionType(fn.__code__, fn.__globals__, name, fn.__defaults__)
    clone.__qualname__ = name
    clone.__doc__ = fn.__doc__
    return clone


# Each search kernel exists twice: parallel over queries for batches, and serial for a few
# queries, where waking a second thread costs more than it saves (and on a busy machine can
# wait a whole scheduler time slice: ~10 ms measured).
linear_search = njit(parallel=True, cache=True, nogil=True)(_linear_search)
linear_search_serial = njit(cache=True, nogil=True)(_renamed(_linear_search, "_linear_serial"))
mih_search = njit(parallel=True, cache=True, nogil=True)(_mih_search)
mih_search_serial = njit(cache=True, nogil=True)(_renamed(_mih_search, "_mih_serial"))
SERIAL_BELOW = 32  # queries


def run_linear(
    q: np.ndarray,
    h: np.ndarray,
    dead: np.ndarray,
    radius: int,
    counts: np.ndarray,
    out_pos: np.ndarray,
    out_d: np.ndarray,
) -> None:
    kernel = linear_search_serial if q.shape[0] < SERIAL_BELOW else linear_search
    kernel(q, h, dead, radius, counts, out_pos, out_d)


def run_mih(q: np.ndarray, *args: object) -> None:
    kernel = mih_search_serial if q.shape[0] < SERIAL_BELOW else mih_search
    kernel(q, *args)
