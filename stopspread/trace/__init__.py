"""Investigations: each case's hash-chained evidence log with signed checkpoints, the spread
graph of its copies (earliest sharer, introducers per platform, top spreaders, speed), imported
chats, and evidence bundles a court can verify offline.

    from stopspread.trace import build_graph, verify_chain, verify_bundle

Pure functions: ``chain`` (hashing, verification), ``graph`` (reconstruction), ``bundle``
(writing and checking bundles), ``render`` (the report). Database edges: ``log`` (appending,
reading, checkpoints, verification against the database) and ``cases`` (trace, chats, grants,
export). Interfaces: ``cli`` (``stopspread case|evidence|demo``), ``page`` (``/investigate``).
"""

from stopspread.trace.chain import Checkpoint, Link, Verification, verify_chain
from stopspread.trace.graph import Trace
from stopspread.trace.graph import build as build_graph


def verify_bundle(data: bytes, pinned: object = None) -> object:
    """See ``stopspread.trace.bundle.verify`` (imported lazily: it pulls in the report renderer)."""
    from stopspread.trace import bundle

    return bundle.verify(data, pinned=pinned)  # type: ignore[arg-type]


__all__ = ["Checkpoint", "Link", "Trace", "Verification", "build_graph", "verify_bundle", "verify_chain"]
