"""Investigations benchmark (issue 5): spread reconstruction scored on simulated spreads, and the
time to trace and export a case of 100,000 events.

    python benchmarks/bench_trace.py [--sims 500] [--events 100000] [--out benchmarks/results/trace.md]

The simulator: each case has 1–3 originals; each original is first posted by one account on one
of 2–3 platforms, then every copy is forwarded a Poisson number of times after exponential
delays (mean 6 h), inside its platform (85 %) or re-uploaded to another platform by a new account
(15 %). Each forward moves the copy's PDQ by Poisson(4) bits, a re-upload (a screenshot, say) by
Poisson(10). What stopspread sees: a copy is matched when its PDQ is within 31 bits of the
original and the platform checked it (92 %); a matched copy is reported with its uploader (90 %);
a report names the content it was forwarded from for half of the forwards inside a platform and
never across platforms (platforms do not know). Noise: report times jitter by up to ±5 minutes,
some copies are reported twice, and one case in four has an unrelated look-alike matched near
the threshold.

Scores:
- origin: the account that first posted an original, found as the original's origin account,
  over the originals whose first copy was observed with its uploader ("observable");
- inferred edges: an inferred edge is right when its source is the nearest observed ancestor of
  its target; precision over all inferred edges, recall over the observed copies whose link was
  not reported and that have an observed ancestor.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stopspread.service import store
from stopspread.service.security import Role
from stopspread.storage import make_engine, sessions, upgrade
from stopspread.storage.db import sqlite_url
from stopspread.storage.models import Case, EvidenceEntry, HashList
from stopspread.trace import bundle, cases, chain, graph, keys

T0 = datetime(2026, 3, 1, tzinfo=UTC)
THRESHOLD = 31


@dataclass
class SimCopy:
    id: str
    platform: str
    account: str
    at: datetime
    pdq: int
    original: int
    parent: str | None
    observed: bool = False
    reported: bool = False
    link_reported: bool = False


def flip(rng: np.random.Generator, value: int, bits: int) -> int:
    for b in rng.choice(256, size=min(bits, 256), replace=False):
        value ^= 1 << int(b)
    return value


def simulate(rng: np.random.Generator, max_copies: int = 60) -> tuple[list[SimCopy], list[dict[str, Any]]]:
    platforms = [f"platform{i}" for i in range(int(rng.integers(2, 4)))]
    copies: list[SimCopy] = []
    originals = {}
    counter = 0
    for original in range(1, int(rng.integers(1, 4)) + 1):
        originals[original] = int.from_bytes(rng.bytes(32), "big")
        platform = str(rng.choice(platforms))
        start = T0 + timedelta(hours=float(rng.uniform(0, 48)))
        root = SimCopy(
            f"{platform}:k{counter}",
            platform,
            f"{platform}/a{rng.integers(1000)}",
            start,
            flip(rng, originals[original], int(rng.poisson(2))),
            original,
            None,
        )
        counter += 1
        frontier, made = [root], [root]
        while frontier and len(made) < max_copies:
            parent = frontier.pop(0)
            for _ in range(int(rng.poisson(1.4 if len(made) < 5 else 1.0))):
                if len(made) >= max_copies:
                    break
                cross = rng.random() < 0.15 and len(platforms) > 1
                platform = (
                    str(rng.choice([p for p in platforms if p != parent.platform]))
                    if cross
                    else parent.platform
                )
                child = SimCopy(
                    f"{platform}:k{counter}",
                    platform,
                    f"{platform}/a{rng.integers(1000)}",
                    parent.at + timedelta(hours=float(rng.exponential(6.0))),
                    flip(rng, parent.pdq, int(rng.poisson(10 if cross else 4))),
                    original,
                    parent.id,
                )
                counter += 1
                made.append(child)
                frontier.append(child)
        copies += made
    by_id = {c.id: c for c in copies}
    for c in copies:
        c.observed = bin(c.pdq ^ originals[c.original]).count("1") <= THRESHOLD and rng.random() < 0.92
        c.reported = c.observed and rng.random() < 0.9
        same = c.parent is not None and by_id[c.parent].platform == c.platform
        c.link_reported = c.reported and same and rng.random() < 0.5
    events: list[dict[str, Any]] = []
    for c in copies:
        if not c.observed:
            continue
        distance = bin(c.pdq ^ originals[c.original]).count("1")
        events.append(_match(c.platform, c.id, c.original, distance, c.pdq, c.at + timedelta(seconds=5)))
        if c.reported:
            jitter = timedelta(minutes=float(rng.uniform(-5, 5)))
            source = by_id[c.parent].id.split(":", 1)[1] if c.link_reported and c.parent else None
            for _ in range(2 if rng.random() < 0.05 else 1):
                events.append(_report(c.platform, c.id, c.account, c.original, c.at + jitter, source))
    if rng.random() < 0.25:  # an unrelated look-alike matched near the threshold
        original = int(rng.integers(1, len(originals) + 1))
        fake = flip(rng, originals[original], int(rng.integers(27, THRESHOLD + 1)))
        at = T0 + timedelta(hours=float(rng.uniform(0, 96)))
        events.append(_match(platforms[0], f"{platforms[0]}:noise", original, THRESHOLD, fake, at))
        events.append(
            _report(platforms[0], f"{platforms[0]}:noise", f"{platforms[0]}/noise", original, at, None)
        )
    events.sort(key=lambda e: e["at"])
    return copies, events


def _match(platform: str, node: str, original: int, distance: int, pdq: int, at: datetime) -> dict[str, Any]:
    return {
        "kind": "match",
        "at": chain.iso(at),
        "body": {
            "match_id": f"m-{node}",
            "platform": platform,
            "content_id": node.split(":", 1)[1],
            "fingerprint_id": original,
            "distance": distance,
            "signal": "pdq",
            "query_pdq": f"{pdq:064x}",
        },
    }


def _report(
    platform: str, node: str, account: str, original: int, at: datetime, source: str | None
) -> dict[str, Any]:
    return {
        "kind": "report",
        "at": chain.iso(at),
        "body": {
            "platform": platform,
            "content_id": node.split(":", 1)[1],
            "uploader": account.split("/", 1)[1],
            "action": "Blocked",
            "forwarded_from": source,
            "fingerprint_id": original,
        },
    }


def score(sims: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    observable = found = 0
    inferred_total = inferred_right = recall_total = 0
    explicit_total = explicit_right = 0
    cases_right = cases_observable = 0
    recall_hits = 0
    for _ in range(sims):
        copies, events = simulate(rng)
        trace = graph.build(events)
        by_id = {c.id: c for c in copies}
        roots = {c.original: c for c in copies if c.parent is None}
        origins = {o["original"]: o["origin_account"] for o in trace.originals}
        for original, root in roots.items():
            if root.observed and root.reported:
                observable += 1
                found += origins.get(original) == root.account
        first_root = min(roots.values(), key=lambda c: c.at)
        if first_root.observed and first_root.reported:
            cases_observable += 1
            cases_right += (trace.earliest or {}).get("account") == first_root.account

        def observed_ancestor(node: str, by_id: dict[str, SimCopy] = by_id) -> str | None:
            parent = by_id[node].parent
            while parent is not None and not by_id[parent].observed:
                parent = by_id[parent].parent
            return parent

        for edge in trace.edges:
            truth = observed_ancestor(edge.target) if edge.target in by_id else None
            if edge.kind == "inferred":
                inferred_total += 1
                inferred_right += edge.source == truth
            else:
                explicit_total += 1
                explicit_right += edge.source == by_id[edge.target].parent if edge.target in by_id else 0
        inferred_targets = {e.target: e.source for e in trace.edges if e.kind == "inferred"}
        for c in copies:
            if c.observed and not c.link_reported:
                truth = observed_ancestor(c.id)
                if truth is not None:
                    recall_total += 1
                    recall_hits += inferred_targets.get(c.id) == truth
    return {
        "simulations": sims,
        "originals_observable": observable,
        "origin_found": found,
        "origin_rate": found / max(observable, 1),
        "case_earliest_sharer_rate": cases_right / max(cases_observable, 1),
        "cases_observable": cases_observable,
        "inferred_edges": inferred_total,
        "inferred_precision": inferred_right / max(inferred_total, 1),
        "inferred_recall": recall_hits / max(recall_total, 1),
        "missing_links": recall_total,
        "explicit_edges": explicit_total,
        "explicit_precision": explicit_right / max(explicit_total, 1),
    }


def large_case(events_wanted: int, seed: int) -> list[dict[str, Any]]:
    """One case of about ``events_wanted`` events: 3 originals, copies forwarded from recent ones."""
    rng = np.random.default_rng(seed)
    events: list[dict[str, Any]] = []
    originals = {o: int.from_bytes(rng.bytes(32), "big") for o in (1, 2, 3)}
    recent: dict[int, list[tuple[str, int]]] = {o: [] for o in originals}
    i = 0
    while len(events) < events_wanted:
        original = int(rng.integers(1, 4))
        platform = f"platform{rng.integers(3)}"
        pool = recent[original]
        parent = pool[int(rng.integers(len(pool)))] if pool else None
        pdq = flip(rng, parent[1] if parent else originals[original], int(rng.poisson(3)))
        if bin(pdq ^ originals[original]).count("1") > THRESHOLD:
            pdq = flip(rng, originals[original], int(rng.poisson(6)))
        node = f"{platform}:k{i}"
        at = T0 + timedelta(seconds=i * 20)
        events.append(_match(platform, node, original, bin(pdq ^ originals[original]).count("1"), pdq, at))
        source = (
            parent[0].split(":", 1)[1]
            if parent and parent[0].startswith(platform) and rng.random() < 0.5
            else None
        )
        events.append(_report(platform, node, f"{platform}/a{rng.integers(5000)}", original, at, source))
        pool.append((node, pdq))
        if len(pool) > 500:
            pool.pop(0)
        i += 1
    return events[:events_wanted]


CPU: dict[str, float] = {}


def timed(fn: Any, repeat: int = 3, name: str = "") -> tuple[float, Any]:
    times, cpu, result = [], [], None
    for _ in range(repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        result = fn()
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    if name:
        CPU[name] = statistics.median(cpu)
    return statistics.median(times), result


def _api_trace(data: Path, number: str, secret: str) -> tuple[float, int]:
    """What an investigator waits for: GET /v1/investigations/cases/{number}/trace, through the
    whole service (authorisation, audit entry, signed checkpoint, JSON of the whole graph)."""
    from fastapi.testclient import TestClient

    from stopspread.service.app import create_app
    from stopspread.service.settings import Settings

    with TestClient(create_app(Settings(data=data))) as client:
        while client.get("/readyz").status_code != 200:
            time.sleep(0.05)

        def get() -> int:
            response = client.get(
                f"/v1/investigations/cases/{number}/trace", headers={"Authorization": f"Bearer {secret}"}
            )
            response.raise_for_status()
            return len(response.content)

        return timed(get, name="trace_api_cpu_s")


def scale(events_wanted: int, seed: int) -> dict[str, Any]:
    events = large_case(events_wanted, seed)

    def build() -> graph.Trace:
        with cases.collector_paused():  # as a trace does
            return graph.build(events)

    pure, trace = timed(build, name="graph_build_cpu_s")
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder)
        engine = make_engine(sqlite_url(data))
        upgrade(engine)
        factory = sessions(engine)
        with factory() as session:
            store.ensure_defaults(session)
            hash_list = session.query(HashList).first()
            case = Case(number="SS-BENCH-00001", secret_hash="0" * 64, list_id=hash_list.id)  # type: ignore[union-attr]
            session.add(case)
            session.flush()
            rows, prev = [], None
            started = time.perf_counter()
            for seq, event in enumerate(events, start=1):
                entry = chain.make_entry(
                    case=case.number,
                    seq=seq,
                    kind=event["kind"],
                    at=chain.parse_iso(event["at"]),
                    recorded_at=chain.parse_iso(event["at"]),
                    body=event["body"],
                )
                prev = chain.extend(prev, entry)
                rows.append(
                    {
                        "case_id": case.id,
                        "case_seq": seq,
                        "kind": event["kind"],
                        "at": chain.parse_iso(event["at"]),
                        "entry": entry,
                        "prev_hash": prev.prev_hash,
                        "hash": prev.hash,
                    }
                )
            chaining = time.perf_counter() - started
            session.execute(insert(EvidenceEntry), rows)
            session.commit()
            key = keys.load_or_create(data)
            db_trace, _ = timed(
                lambda: cases.trace(session, case=case, actor="bench"), name="trace_from_db_cpu_s"
            )
            session.rollback()
            export_time, blob = timed(
                lambda: cases.export(session, case=case, key=key, actor="bench"),
                repeat=2,
                name="export_cpu_s",
            )
            session.commit()
            verify_time, verified = timed(lambda: bundle.verify(blob), repeat=1)
            investigator, secret = store.create_key(session, name="bench", role=Role.INVESTIGATOR)
            store.grant(session, case=case, investigator_key_id=investigator.id, days=1, granted_by="bench")
            session.commit()
            number = case.number
        engine.dispose()
        api_time, api_bytes = _api_trace(data, number, secret)
    return {
        "events": len(events),
        "copies": len(trace.copies),
        "edges": len(trace.edges),
        "graph_build_s": pure,
        "trace_from_db_s": db_trace,
        "trace_api_s": api_time,
        "trace_api_bytes": api_bytes,
        "chain_hashing_s": chaining,
        "export_s": export_time,
        "bundle_bytes": len(blob),
        "bundle_verify_s": verify_time,
        "bundle_ok": verified.ok,
        **CPU,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sims", type=int, default=500)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    quality = score(args.sims, args.seed)
    before = os.getloadavg()[0]
    speed = scale(args.events, args.seed)
    result = {"quality": quality, "scale": speed, "load": [before, os.getloadavg()[0]]}
    print(json.dumps(result, indent=1))
    if args.out:
        args.out.write_text(_markdown(result, " ".join(sys.argv[1:])))


def _markdown(result: dict[str, Any], argv: str) -> str:
    q, s = result["quality"], result["scale"]
    quality = [
        (
            "origin account of an original found (first copy observed with its uploader)",
            f"**{q['origin_rate']:.1%}** ({q['origin_found']}/{q['originals_observable']})",
            "≥ 95 %",
        ),
        (
            "earliest sharer of the case = the account that started it",
            f"{q['case_earliest_sharer_rate']:.1%} ({q['cases_observable']} cases)",
            "",
        ),
        (
            "inferred edges: precision (source = nearest observed ancestor)",
            f"**{q['inferred_precision']:.1%}** of {q['inferred_edges']}",
            "report",
        ),
        (
            f"inferred edges: recall ({q['missing_links']} copies whose link was not reported)",
            f"**{q['inferred_recall']:.1%}**",
            "report",
        ),
        ("reported edges: precision", f"{q['explicit_precision']:.1%} of {q['explicit_edges']}", ""),
    ]
    scale_rows = [
        (
            "trace from the database (read, parse, build), median of 3",
            f"**{s['trace_from_db_s']:.2f}**",
            "< 2 s",
        ),
        ("of which building the graph from parsed events", f"{s['graph_build_s']:.2f}", ""),
        (
            f"through the API (GET …/trace, {s['trace_api_bytes'] / 1e6:.0f} MB of JSON), median of 3",
            f"**{s['trace_api_s']:.2f}**",
            "< 2 s",
        ),
        ("export the evidence bundle, median of 2", f"**{s['export_s']:.2f}**", "< 10 s"),
        (
            "verify the bundle offline (archive, hashes, signature, chain, graph)",
            f"{s['bundle_verify_s']:.2f}",
            "",
        ),
        (f"hashing the chain of {s['events']:,} entries", f"{s['chain_hashing_s']:.2f}", ""),
    ]
    lines = [
        "# Investigations: spread reconstruction and scale",
        "",
        f"Command: `python benchmarks/bench_trace.py {argv}` on the 2-core machine, shared: load average "
        f"{result['load'][0]:.1f} before the scale runs and {result['load'][1]:.1f} after (seconds are wall "
        "clock; CPU seconds in the JSON printed by the command).",
        "",
        f"## Reconstruction on {q['simulations']} simulated cases (generator: `benchmarks/bench_trace.py`)",
        "",
        "| measure | result | target |",
        "|---|---|---|",
        *(f"| {a} | {b} | {c} |" for a, b, c in quality),
        "",
        f"## A case of {s['events']:,} events ({s['copies']:,} copies, {s['edges']:,} edges), "
        "embedded SQLite",
        "",
        "| step | seconds | target |",
        "|---|---|---|",
        *(f"| {a} | {b} | {c} |" for a, b, c in scale_rows),
        "",
        f"Bundle: {s['bundle_bytes'] / 1e6:.1f} MB (stored, not compressed: see "
        "`stopspread/trace/bundle.py`); "
        f"verified: {s['bundle_ok']}.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
