"""Exact Hamming-radius search over 256-bit (PDQ) fingerprints.

``MultiIndexHashing`` is the production index; ``LinearIndex`` is the brute-force oracle it
is tested against. Both implement :class:`HammingIndex` and persist to a directory of
``.npy`` arrays plus a versioned ``manifest.json`` (never pickle).
"""

from __future__ import annotations

from pathlib import Path

from stopspread.errors import IndexFormatError
from stopspread.index.base import HammingIndex, SearchResult
from stopspread.index.bits import hashes_from_hex, hashes_to_hex
from stopspread.index.linear import LinearIndex
from stopspread.index.mih import MultiIndexHashing
from stopspread.index.persist import read_manifest

INDEX_CLASSES: dict[str, type[LinearIndex] | type[MultiIndexHashing]] = {
    LinearIndex.KIND: LinearIndex,
    MultiIndexHashing.KIND: MultiIndexHashing,
}


def index_class(directory: Path) -> type[LinearIndex] | type[MultiIndexHashing]:
    """The class that wrote the index at ``directory``, read from its manifest."""
    kind = read_manifest(Path(directory))["kind"]
    try:
        return INDEX_CLASSES[kind]
    except KeyError:
        raise IndexFormatError(f"index at {directory} is of unknown kind {kind!r}") from None


def open_index(directory: Path) -> LinearIndex | MultiIndexHashing:
    """Load whichever index was saved at ``directory``."""
    return index_class(directory).load(Path(directory))


__all__ = [
    "HammingIndex",
    "IndexFormatError",
    "LinearIndex",
    "MultiIndexHashing",
    "SearchResult",
    "hashes_from_hex",
    "hashes_to_hex",
    "index_class",
    "open_index",
]
