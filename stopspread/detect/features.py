"""Hashed sparse features of canonical tokens: words, word pairs, skip pairs, character n-grams and
words in their message's context.

Character n-grams carry the model over typos and spellings it never saw ("mandame", "mandamee",
"mnd"); word pairs carry the structure ("or your", "si no"); skip pairs (a word and the one two
places before it) carry it over a filler or a slot value in between ("or … pics", "le … a").
Features are hashed with CRC-32 (stable across processes and Python versions, unlike ``hash``) into
a fixed number of buckets, so the model file is a weight vector and nothing else.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from stopspread.detect.normalize import Token

DIM_BITS = 18
DIM = 1 << DIM_BITS
_MASK = DIM - 1
CHAR_NGRAMS = (3, 4, 5)

# Message-level context that a bag of n-grams cannot see: whether the message names pics or videos
# (or "what you sent me") anywhere, and whether it reports someone else's words ("he said", "dice
# que"). Each word is also hashed with this context, so the model can learn that "everyone", "or"
# and "post" are threats only when the message is about pics, and that a threat quoted in the third
# person is usually someone helping. Canonical forms (see normalize.SPELLINGS): "pix", "fotos" and
# "vids" are already "pic" and "video" here.
MEDIA_WORDS = frozenset(
    [
        "pic",
        "video",
        "nudes",
        "pack",
        "selfie",
        "videocall",
        "camera",
        "sent",
        "mandaste",
        "enviaste",
        "pasaste",
        "mandado",
        "enviado",
    ]
)
REPORT_WORDS = frozenset(
    [
        "said",
        "says",
        "saying",
        "told",
        "tells",
        "threatened",
        "threatens",
        "threatening",
        "claims",
        "dice",
        "dijo",
        "dijeron",
        "dicen",
        "diciendo",
        "decia",
        "amenazo",
        "amenaza",
        "amenazando",
        "amenazaba",
    ]
)


def _bucket(feature: str) -> int:
    return zlib.crc32(feature.encode("utf-8")) & _MASK


@lru_cache(maxsize=65536)
def token_buckets(norm: str) -> tuple[int, ...]:
    """Buckets of one token's word feature and character n-grams (cached: chat repeats words)."""
    buckets = [_bucket("w:" + norm)]
    padded = f" {norm} "
    for n in CHAR_NGRAMS:
        for i in range(len(padded) - n + 1):
            buckets.append(_bucket("c:" + padded[i : i + n]))
    return tuple(buckets)


def message_features(tokens: Sequence[Token]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(buckets, values, owner) of one message; ``owner`` is the token index each feature came from
    (a word pair belongs to its second word), so contributions can be mapped back to words."""
    buckets: list[int] = []
    owners: list[int] = []
    norms = {token.norm for token in tokens}
    context = ("m" if not norms.isdisjoint(MEDIA_WORDS) else "-") + (
        "r" if not norms.isdisjoint(REPORT_WORDS) else "-"
    )
    previous = before = "<s>"
    for i, token in enumerate(tokens):
        own = token_buckets(token.norm)
        buckets.extend(own)
        owners.extend([i] * len(own))
        buckets.append(_bucket(f"b:{previous} {token.norm}"))
        buckets.append(_bucket(f"s:{before} {token.norm}"))
        buckets.append(_bucket(f"k:{context} {token.norm}"))
        owners.extend((i, i, i))
        before, previous = previous, token.norm
    if tokens:
        buckets.append(_bucket(f"b:{previous} </s>"))
        owners.append(len(tokens) - 1)
    idx = np.asarray(buckets, dtype=np.int64)
    # Binary features scaled to unit length: a long message does not outvote a short one.
    values = np.full(len(idx), 1.0 / np.sqrt(max(len(idx), 1)), dtype=np.float32)
    return idx, values, np.asarray(owners, dtype=np.int32)


def batch_matrix(token_lists: Sequence[Sequence[Token]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR-style (row ids, buckets, values) of many messages, for training and batch scoring."""
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    for r, tokens in enumerate(token_lists):
        idx, values, _ = message_features(tokens)
        rows.append(np.full(len(idx), r, dtype=np.int64))
        cols.append(idx)
        vals.append(values)
    if not rows:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=np.float32)
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
