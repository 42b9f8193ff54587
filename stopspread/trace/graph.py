"""Spread reconstruction: from a case's events to the graph of its copies, as pure functions.

A **copy** (node) is one piece of content on one platform (``platform:content_id``), seen through
matches (which original it is, how near, the PDQ looked up) and reports (who uploaded it, what
the platform did, what it was forwarded from). A content id named only in a ``forwarded_from``
becomes an unobserved copy: it existed, but never passed through stopspread.

An **edge** says where a copy came from:

- ``explicit``: the platform reported ``forwarded_from`` (``content_id`` on the same platform, or
  ``platform:content_id`` on another one);
- ``inferred``: otherwise, the earlier copy of the same original that is most alike, with the
  cost of each candidate in bits: the Hamming distance between the two copies' PDQ (or, when a
  copy's PDQ is unknown, the difference of their distances to the original, a lower bound of it,
  plus a penalty for the weaker evidence), plus a penalty when the copy would have crossed to
  another platform (forwards within a platform are far more common than re-uploads elsewhere),
  plus a small cost per hour between the two (forwards happen mostly soon after receiving). Each
  recompression, resize or screenshot on the way moves a PDQ by a few bits, so a copy is nearest
  to the one it was made from; the first copy of each original has no parent.

The answers an investigator needs are derived from the graph: the earliest sighting of each
original and its account, the accounts that introduced it to each platform, the accounts whose
copies spread furthest, and how fast it spread. Accounts are ``platform/uploader``: uploader ids
are pseudonyms of one platform and say nothing across platforms.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numba import njit

from stopspread.index._kernels import popcount64
from stopspread.trace.chain import iso, parse_iso

#: Bits added to an inferred edge's cost when it crosses platforms (a re-upload elsewhere is
#: rarer than a forward; ~3 hops of recompression noise).
CROSS_PLATFORM_BITS = 12.0
#: Bits added when only the distances to the original are known (a lower bound, not a distance).
DISTANCE_ONLY_BITS = 4.0
#: Bits per hour between a copy and its candidate parent: breaks near-ties towards recent copies.
BITS_PER_HOUR = 1.0 / 24.0
#: Earlier copies of the same original considered as parents of a copy (newest first); older ones
#: are reached through them. Keeps a 100,000-event case well under a second.
WINDOW = 128


@dataclass(slots=True)
class Copy:
    id: str
    platform: str
    content_id: str
    first_seen: str | None = None  # canonical ISO UTC (chain.iso): compares as text, parsed once
    uploader: str | None = None
    original: int | None = None  # fingerprint id of the nearest original matched
    distance: int | None = None  # PDQ bits from that original
    pdq: str | None = None
    forwarded_from: str | None = None
    actions: list[str] = field(default_factory=list)
    match_ids: list[str] = field(default_factory=list)
    observed: bool = True
    account: str | None = None  # platform/uploader, set with the uploader


@dataclass(slots=True)
class Edge:
    source: str
    target: str
    kind: str  # explicit|inferred
    cross_platform: bool
    cost: float | None = None  # inferred edges: the candidate's cost in bits


@dataclass
class Trace:
    case: str | None
    copies: list[Copy]
    edges: list[Edge]
    originals: list[dict[str, Any]]
    earliest: dict[str, Any] | None
    spreaders: list[dict[str, Any]]
    speed: dict[str, Any]
    timeline: dict[str, Any]
    events: int
    chats: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "events": self.events,
            "nodes": [_copy_json(c) for c in self.copies],
            "edges": [
                {
                    "source": e.source,
                    "target": e.target,
                    "kind": e.kind,
                    "cross_platform": e.cross_platform,
                    **({"cost": round(e.cost, 2)} if e.cost is not None else {}),
                }
                for e in self.edges
            ],
            "originals": self.originals,
            "earliest_sharer": self.earliest,
            "top_spreaders": self.spreaders,
            "speed": self.speed,
            "timeline": self.timeline,
            "chats": self.chats,
        }


def _copy_json(c: Copy) -> dict[str, Any]:
    return {
        "id": c.id,
        "platform": c.platform,
        "content_id": c.content_id,
        "account": c.account,
        "first_seen": c.first_seen,
        "original": c.original,
        "distance": c.distance,
        "actions": c.actions,
        "observed": c.observed,
    }


# --- copies from events ----------------------------------------------------------------------


def copies_from_events(events: Iterable[dict[str, Any]]) -> tuple[dict[str, Copy], list[dict[str, Any]]]:
    """Copies keyed by ``platform:content_id`` from evidence entries (``kind``, ``at``, ``body``);
    also the chat imports found on the way."""
    copies: dict[str, Copy] = {}
    chats: list[dict[str, Any]] = []
    # The hot loop of a 100,000-event trace: plain lookups, no per-event datetime parsing.
    for event in events:
        kind = event.get("kind")
        if kind != "match" and kind != "report":
            if kind == "chat":
                chats.append({"at": event.get("at"), **(event.get("body") or {})})
            continue
        body = event["body"]
        platform = str(body["platform"])
        content = body.get("content_id")
        if content is None:  # a lookup without a content id: a copy of its own, never linked
            content = f"match-{body.get('match_id')}"
        key = f"{platform}:{content}"
        copy = copies.get(key)
        if copy is None:
            copy = copies[key] = Copy(key, platform, str(content))
        at = event["at"]
        if len(at) != _ISO_LENGTH or at[-6:] != "+00:00":
            at = iso(parse_iso(at))  # another spelling or offset: canonical, so text order is time order
        if copy.first_seen is None or at < copy.first_seen:
            copy.first_seen = at
        if kind == "match":
            match_id = body.get("match_id")
            if match_id:
                copy.match_ids.append(match_id)
            distance = body.get("distance")
            if distance is not None and (copy.distance is None or distance < copy.distance):
                copy.original, copy.distance = body.get("fingerprint_id"), distance
            if copy.pdq is None:
                copy.pdq = body.get("query_pdq")
        else:
            uploader = body.get("uploader")
            if copy.uploader is None and uploader:
                copy.uploader, copy.account = uploader, f"{platform}/{uploader}"
            if copy.forwarded_from is None:
                copy.forwarded_from = body.get("forwarded_from")
            copy.actions.append(str(body.get("action")))
            if copy.original is None:
                copy.original = body.get("fingerprint_id")
    return copies, chats


# --- edges -----------------------------------------------------------------------------------


def explicit_parents(copies: dict[str, Copy]) -> dict[str, str]:
    """child id → parent id from ``forwarded_from``; unknown parents become unobserved copies."""
    platforms = {c.platform for c in copies.values()}
    parents: dict[str, str] = {}
    for copy in list(copies.values()):
        source = copy.forwarded_from
        if not source or not copy.observed:
            continue
        same = f"{copy.platform}:{source}"
        prefix = source.split(":", 1)[0]
        if same in copies:
            parent = same
        elif ":" in source and (source in copies or prefix in platforms):
            parent = source  # "platform:content" on another platform
        else:
            parent = same
        if parent == copy.id:
            continue
        if parent not in copies:
            platform, _, content = parent.partition(":")
            copies[parent] = Copy(parent, platform, content, original=copy.original, observed=False)
        parents[copy.id] = parent
    return parents


def _pdq_words(copies: Sequence[Copy]) -> tuple[np.ndarray, np.ndarray]:
    words = np.zeros((len(copies), 4), np.uint64)
    known = np.zeros(len(copies), bool)
    for i, copy in enumerate(copies):
        if copy.pdq and len(copy.pdq) == 64:
            try:
                value = bytes.fromhex(copy.pdq)
            except ValueError:
                continue
            words[i] = np.frombuffer(value, ">u8")
            known[i] = True
    return words, known


def infer_parents(
    copies: dict[str, Copy], explicit: dict[str, str], *, window: int = WINDOW
) -> dict[str, tuple[str, float]]:
    """child id → (parent id, cost in bits) for observed copies without an explicit parent.

    Candidates are the up to ``window`` copies of the same original seen before the child (all
    platforms); the cheapest wins, ties going to the older copy.
    """
    groups: dict[int | None, list[Copy]] = defaultdict(list)
    for copy in copies.values():
        if copy.observed and copy.first_seen is not None:
            groups[copy.original].append(copy)
    inferred: dict[str, tuple[str, float]] = {}
    for original, members in groups.items():
        if original is None or len(members) < 2:
            continue
        members.sort(key=lambda c: (c.first_seen, c.id))
        words, known = _pdq_words(members)
        hours = _hours_of([c.first_seen for c in members])
        dist = np.array([c.distance if c.distance is not None else 0 for c in members], np.float64)
        platform_ids = {p: i for i, p in enumerate(sorted({c.platform for c in members}))}
        platform = np.array([platform_ids[c.platform] for c in members], np.int64)
        sources, costs = _cheapest_parents(words, known, hours, dist, platform, window)
        ids = [c.id for c in members]
        for i, (source, cost) in enumerate(zip(sources.tolist(), costs.tolist(), strict=True)):
            if i and ids[i] not in explicit:
                inferred[ids[i]] = (ids[source], cost)
    return inferred


@njit(cache=True, nogil=True)
def _cheapest_parents(
    words: np.ndarray,
    known: np.ndarray,
    hours: np.ndarray,
    dist: np.ndarray,
    platform: np.ndarray,
    window: int,
) -> tuple[np.ndarray, np.ndarray]:
    """For each copy (in time order) the earlier copy within ``window`` of least cost, and the
    cost; ties go to the older candidate (it had longer to be forwarded)."""
    n = words.shape[0]
    sources = np.full(n, -1, np.int64)
    costs = np.full(n, np.inf)
    for child in range(1, n):
        best, best_cost = -1, np.inf
        for lag in range(1, min(window, child) + 1):
            parent = child - lag
            if known[child] and known[parent]:
                cost = 0.0
                for w in range(4):
                    cost += popcount64(words[child, w] ^ words[parent, w])
            else:
                # Without both PDQs: the difference of distances to the original bounds the
                # distance between the copies from below; a parent noisier than its child is
                # unlikely, so a negative gap counts double.
                gap = dist[child] - dist[parent]
                cost = (gap if gap >= 0 else -2 * gap) + DISTANCE_ONLY_BITS
            if platform[child] != platform[parent]:
                cost += CROSS_PLATFORM_BITS
            cost += (hours[child] - hours[parent]) * BITS_PER_HOUR
            cost -= lag * 1e-9
            if cost < best_cost:
                best, best_cost = parent, cost
        sources[child], costs[child] = best, best_cost
    return sources, costs


# --- the trace -------------------------------------------------------------------------------


def build(events: Sequence[dict[str, Any]], *, case: str | None = None, window: int = WINDOW) -> Trace:
    """The spread graph of a case and what it answers, from its evidence entries."""
    copies, chats = copies_from_events(events)
    explicit = explicit_parents(copies)
    inferred = infer_parents(copies, explicit, window=window)
    parent: dict[str, str] = {**{k: v for k, (v, _) in inferred.items()}, **explicit}
    _break_cycles(parent, copies)
    edges = [
        Edge(p, c, "explicit", copies[p].platform != copies[c].platform)
        for c, p in explicit.items()
        if parent.get(c) == p
    ]
    edges += [
        Edge(p, c, "inferred", copies[p].platform != copies[c].platform, cost)
        for c, (p, cost) in inferred.items()
        if c not in explicit
    ]
    edges.sort(key=lambda e: (e.target, e.source))
    ordered = sorted(copies.values(), key=_order)
    children: dict[str, list[str]] = defaultdict(list)
    for child, p in parent.items():
        children[p].append(child)
    reach = _reach(ordered, parent, children)
    return Trace(
        case=case,
        copies=ordered,
        edges=edges,
        originals=_originals(ordered, parent),
        earliest=_earliest(ordered),
        spreaders=_spreaders(ordered, children, reach),
        speed=_speed([c for c in ordered if c.observed]),
        timeline=_timeline([c for c in ordered if c.observed]),
        events=len(events),
        chats=chats,
    )


_ISO_LENGTH = len("2026-01-01T00:00:00.000000+00:00")
_FAR_FUTURE = "9999"


def _order(copy: Copy) -> tuple[str, str]:
    return (copy.first_seen or _FAR_FUTURE, copy.id)


def _hours_of(times: Sequence[str | None]) -> np.ndarray:
    """Hours since the epoch of canonical ISO times, in one vectorised conversion."""
    stamps = np.array([t[:26] if t else "NaT" for t in times], dtype="datetime64[us]")
    return stamps.astype(np.int64) / 3.6e9


def _break_cycles(parent: dict[str, str], copies: dict[str, Copy]) -> None:
    """Explicit links from bad reports can form a loop; the loop's earliest copy loses its parent."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    for start in list(parent):
        path, node = [], start
        while node in parent and state.get(node) is None:
            state[node] = 1
            path.append(node)
            node = parent[node]
        if state.get(node) == 1:  # came back to the current path: a loop
            loop = path[path.index(node) :]
            del parent[min(loop, key=lambda n: _order(copies[n]))]
        for n in path:
            state[n] = 2


def _reach(ordered: list[Copy], parent: dict[str, str], children: dict[str, list[str]]) -> dict[str, int]:
    """Copies descending from each copy (children, their children, …)."""
    depth: dict[str, int] = {}
    for copy in ordered:
        chain_up, node = [], copy.id
        while node not in depth and node in parent:
            chain_up.append(node)
            node = parent[node]
        base = depth.setdefault(node, 0)
        for offset, n in enumerate(reversed(chain_up), start=1):
            depth[n] = base + offset
    reach = dict.fromkeys(depth, 0)
    for node in sorted(depth, key=depth.__getitem__, reverse=True):
        if node in parent:
            reach[parent[node]] = reach.get(parent[node], 0) + reach[node] + 1
    return reach


def _sighting(copy: Copy) -> dict[str, Any]:
    return {
        "node": copy.id,
        "platform": copy.platform,
        "account": copy.account,
        "at": copy.first_seen,
    }


def _originals(ordered: list[Copy], parent: dict[str, str]) -> list[dict[str, Any]]:
    by_original: dict[int | None, list[Copy]] = defaultdict(list)
    for copy in ordered:
        if copy.observed and copy.first_seen is not None:
            by_original[copy.original].append(copy)
    out = []
    for original, members in sorted(by_original.items(), key=lambda kv: _order(kv[1][0])):
        first = members[0]
        introducers: dict[str, dict[str, Any]] = {}
        for copy in members:
            if copy.platform not in introducers:
                via = parent.get(copy.id)
                introducers[copy.platform] = {
                    **_sighting(copy),
                    "from": via,
                    "hours_after_first": _hours(first.first_seen, copy.first_seen),
                }
        with_account = next((c for c in members if c.account), None)
        out.append(
            {
                "original": original,
                "earliest": _sighting(first),
                "origin_account": first.account,
                "earliest_known_account": _sighting(with_account) if with_account else None,
                "introducers": introducers,
                "copies": len(members),
                "accounts": len({c.account for c in members if c.account}),
                "speed": _speed(members),
            }
        )
    return out


def _earliest(ordered: list[Copy]) -> dict[str, Any] | None:
    """The earliest copy whose uploader is known: the first account seen sharing the pictures."""
    first = next((c for c in ordered if c.observed and c.first_seen is not None), None)
    sharer = next((c for c in ordered if c.observed and c.account and c.first_seen is not None), None)
    if sharer is None:
        return None
    return {
        **_sighting(sharer),
        "original": sharer.original,
        # A match without a report can be earlier and have no known account: say so.
        "earlier_unattributed": _sighting(first) if first is not None and first is not sharer else None,
    }


def _spreaders(
    ordered: list[Copy], children: dict[str, list[str]], reach: dict[str, int], top: int = 10
) -> list[dict[str, Any]]:
    stats: dict[str, list[Any]] = {}  # account -> [uploads, forwarded to, reach, first seen]
    for copy in ordered:
        if not copy.account or not copy.observed:
            continue
        row = stats.get(copy.account)
        if row is None:
            row = stats[copy.account] = [0, 0, 0, copy.first_seen]
        row[0] += 1
        row[1] += len(children.get(copy.id, ()))
        row[2] += reach.get(copy.id, 0)
    ranked = heapq.nsmallest(top, stats.items(), key=lambda kv: (-kv[1][2], -kv[1][1], -kv[1][0], kv[0]))
    return [
        {
            "account": a,
            "platform": a.split("/", 1)[0],
            "uploads": row[0],
            "forwarded_to": row[1],
            "reach": row[2],
            "first_seen": row[3],
        }
        for a, row in ranked
    ]


def _hours(start: str | None, end: str | None) -> float | None:
    if start is None or end is None:
        return None
    return round((parse_iso(end) - parse_iso(start)).total_seconds() / 3600.0, 2)


def _speed(members: list[Copy]) -> dict[str, Any]:
    times = sorted(c.first_seen for c in members if c.first_seen is not None)
    if not times:
        return {"copies": 0}
    first, last = times[0], times[-1]
    span = _hours(first, last) or 0.0
    after = _hours_of(times)
    after -= after[0]
    within = {h: int(np.searchsorted(after, h, side="right")) for h in (1, 24, 72)}
    return {
        "copies": len(times),
        "first": first,
        "last": last,
        "hours": span,
        "copies_first_hour": within[1],
        "copies_first_day": within[24],
        "copies_first_3_days": within[72],
        "hours_to_half": _hours(first, times[(len(times) - 1) // 2]),
        "per_day": round(len(times) / max(span / 24.0, 1.0), 2),
    }


def _timeline(members: list[Copy]) -> dict[str, Any]:
    """New copies per hour (spreads shorter than 3 days) or per day, per platform."""
    times = [c.first_seen for c in members if c.first_seen is not None]
    if not times:
        return {"bucket": "hour", "series": []}
    bucket = "hour" if (_hours(min(times), max(times)) or 0.0) <= 72 else "day"
    # Canonical UTC text: the hour is the first 13 characters, the day the first 10.
    cut, tail = (13, ":00:00.000000+00:00") if bucket == "hour" else (10, "T00:00:00.000000+00:00")
    counts: Counter[tuple[str, str]] = Counter(
        (c.first_seen[:cut] + tail, c.platform) for c in members if c.first_seen is not None
    )
    return {
        "bucket": bucket,
        "series": [{"t": t, "platform": p, "copies": n} for (t, p), n in sorted(counts.items())],
    }
