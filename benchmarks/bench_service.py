"""The service under load: a large list, batch and single lookups, start-up time, memory over time.

    python benchmarks/bench_service.py --size 10000000 --workers 2 --seconds 60 \
        [--soak 600] --markdown benchmarks/results/service.md

Builds a list of ``--size`` random PDQ fingerprints straight into a fresh SQLite database (the
embedded default), lets the server build its index from the change log once and snapshot it,
then measures on the same machine as the load generator:

* start-up to ready from the snapshot (what a restart costs);
* batch lookups/s through ``POST /v1/match`` (1000 fingerprints a request, half of them
  near-duplicates of listed ones within 31 bits), from two client processes;
* single lookups/s and latency percentiles through ``GET /v1/match`` at 32 concurrent
  connections (wrk, Debian's package, with a Lua script choosing the fingerprint);
* how soon an addition is matchable and a withdrawal stops matching;
* resident memory of the server processes, sampled during the load (``--soak`` seconds).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from stopspread.service import store
from stopspread.service.security import Role
from stopspread.service.settings import Settings
from stopspread.storage import make_engine, sessions, upgrade
from stopspread.storage.models import Change, Fingerprint, utcnow


def build_list(data: Path, size: int, rng: np.random.Generator) -> np.ndarray:
    """Insert ``size`` fingerprints and their change rows; returns the hashes (n x 32 bytes)."""
    engine = make_engine(Settings(data=data).url())
    upgrade(engine)
    hashes = rng.integers(0, 256, size=(size, 32), dtype=np.uint8)
    with sessions(engine)() as session:
        store.ensure_defaults(session)
        list_id = store.get_list(session, store.CASES_LIST).id
        session.commit()
    now = utcnow()
    step = 100_000
    with engine.begin() as connection:
        for start in range(0, size, step):
            chunk = hashes[start : start + step]
            hexes = [h.tobytes().hex() for h in chunk]
            connection.execute(
                Fingerprint.__table__.insert(),
                [
                    {
                        "id": start + i + 1,
                        "list_id": list_id,
                        "kind": "image",
                        "pdq": hx,
                        "record": f'{{"kind":"image","pdq":"{hx}","quality":100}}',
                        "status": "active",
                        "created_at": now,
                        "changed_at": now,
                    }
                    for i, hx in enumerate(hexes)
                ],
            )
            connection.execute(
                Change.__table__.insert(),
                [{"fingerprint_id": start + i + 1, "op": "add", "at": now} for i in range(len(chunk))],
            )
    engine.dispose()
    return hashes


def make_key(data: Path) -> str:
    engine = make_engine(Settings(data=data).url())
    with sessions(engine)() as session:
        name = f"bench-{secrets.token_hex(4)}"  # a reused data folder keeps earlier runs' platforms
        store.create_platform(session, name=name)
        _, key = store.create_key(session, name=name, role=Role.PLATFORM, platform=name)
        session.commit()
    engine.dispose()
    return key


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(data: Path, port: int, workers: int) -> tuple[subprocess.Popen[bytes], float]:
    command = [sys.executable, "-m", "stopspread", "serve", "--port", str(port), "--data", str(data)]
    command += ["--workers", str(workers)]
    # The load generator repeats its queries: no rate limit, no quarantine of what it hits.
    env = {
        **os.environ,
        "STOPSPREAD_LOOKUPS_PER_SECOND": "1e9",
        "STOPSPREAD_LOOKUP_BURST": "1e9",
        "STOPSPREAD_QUARANTINE_DISTINCT": str(10**9),
    }
    started = time.perf_counter()
    # The server's own log (one JSON line per request, and any traceback) next to its data.
    log = (data / "server.log").open("ab")
    process = subprocess.Popen(command, stdout=log, stderr=log, env=env)
    ready_in_a_row = 0
    while True:
        try:
            ok = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            ok = False
        # With several workers, each answers /readyz for itself: ask until several say ready.
        ready_in_a_row = ready_in_a_row + 1 if ok else 0
        if ready_in_a_row >= 4 * workers:
            return process, time.perf_counter() - started
        if process.poll() is not None:
            raise RuntimeError("server exited")
        time.sleep(0.05)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=600)
    except subprocess.TimeoutExpired:
        process.kill()


def queries(hashes: np.ndarray, count: int, rng: np.random.Generator, share: float) -> list[str]:
    """``share`` of near-duplicates of listed hashes (up to 31 bits flipped), the rest random."""
    out = []
    for _ in range(count):
        if rng.random() < share:
            h = np.unpackbits(hashes[rng.integers(len(hashes))])
            flips = rng.choice(256, size=int(rng.integers(0, 32)), replace=False)
            h[flips] ^= 1
            out.append(np.packbits(h).tobytes().hex())
        else:
            out.append(secrets.token_hex(32))
    return out


def _batch_client(args: tuple[str, str, list[str], float]) -> tuple[int, int, int, str]:
    url, key, pool, seconds = args
    bodies = [
        json.dumps({"signals": [{"pdq": p} for p in pool[i : i + 1000]]}).encode()
        for i in range(0, len(pool) - 999, 1000)
    ]
    done = matched = failed = 0
    first_failure = ""
    deadline = time.perf_counter() + seconds
    headers = {"Authorization": f"Bearer {key}", "content-type": "application/json"}
    with httpx.Client(timeout=60) as client:
        i = 0
        while time.perf_counter() < deadline:
            response = client.post(f"{url}/v1/match", content=bodies[i % len(bodies)], headers=headers)
            i += 1
            if response.status_code != 200:  # counted and shown, not fatal: the run goes on
                failed += 1
                first_failure = first_failure or f"{response.status_code} {response.text[:300]}"
                continue
            results = response.json()["results"]
            done += len(results)
            matched += sum(1 for r in results if r["matched"])
    return done, matched, failed, first_failure


def batch_load(url: str, key: str, pool: list[str], seconds: float, clients: int) -> dict[str, float]:
    started = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(clients) as workers:
        parts = workers.map(_batch_client, [(url, key, pool[c::clients], seconds) for c in range(clients)])
    elapsed = time.perf_counter() - started
    done = sum(p[0] for p in parts)
    return {
        "lookups_per_s": done / elapsed,
        "matched_share": sum(p[1] for p in parts) / max(1, done),
        "failed_requests": sum(p[2] for p in parts),
        "first_failure": next((p[3] for p in parts if p[3]), ""),
    }


WRK_SCRIPT = """
local hashes = {}
for line in io.lines("%s") do hashes[#hashes + 1] = line end
local n = 0
request = function()
  n = n + 1
  local h = hashes[(n %% #hashes) + 1]
  return wrk.format("GET", "/v1/match?pdq=" .. h, {["Authorization"] = "Bearer %s"})
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %%d %%d %%.3f %%.3f %%.3f %%d %%d\\n", summary.requests, summary.duration,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency:percentile(99.9) / 1000,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.timeout))
end
"""


def single_load(url: str, key: str, pool: list[str], seconds: int, work: Path) -> dict[str, float]:
    hashes = work / "hashes.txt"
    hashes.write_text("\n".join(pool[:20000]) + "\n")
    script = work / "lookup.lua"
    script.write_text(WRK_SCRIPT % (hashes, key))
    done = subprocess.run(
        ["wrk", "-t", "2", "-c", "32", "-d", f"{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT"))
    requests, micros, p50, p99, p999, bad_status, socket_errors = line.split()[1:]
    return {
        "requests_per_s": int(requests) / (int(micros) / 1e6),
        "p50_ms": float(p50),
        "p99_ms": float(p99),
        "p999_ms": float(p999),
        "non_2xx": int(bad_status),  # answers other than 200: must stay 0
        "socket_errors": int(socket_errors),  # wrk's timeouts (2 s) and connection errors
    }


def freshness(url: str, key: str) -> dict[str, float]:
    """Seconds from an acknowledged case to its fingerprint matching, and from a withdrawal to not."""
    platform = {"Authorization": f"Bearer {key}"}
    pdq = secrets.token_hex(32)

    def matched() -> bool:
        response = httpx.get(f"{url}/v1/match", params={"pdq": pdq}, headers=platform, timeout=30)
        if response.status_code != 200:
            raise RuntimeError(f"lookup failed: {response.status_code} {response.text}")
        return bool(response.json()["matched"])

    opened = httpx.post(f"{url}/v1/cases", json={"fingerprints": [{"pdq": pdq}]}, timeout=30).json()
    t0 = time.perf_counter()
    while not matched():
        time.sleep(0.001)
    added = time.perf_counter() - t0
    secret = {"Authorization": f"Bearer {opened['secret']}"}
    httpx.post(
        f"{url}/v1/cases/{opened['case_number']}/withdraw", headers=secret, timeout=30
    ).raise_for_status()
    t0 = time.perf_counter()
    checks = 0
    while matched():
        checks += 1
    return {
        "add_visible_s": added,
        "withdraw_visible_s": time.perf_counter() - t0,
        "requests_still_matching": checks,
    }


def rss_mb(root: int) -> float:
    """Resident memory of a process and its children (the uvicorn workers)."""
    total = 0
    pids = [root]
    while pids:
        pid = pids.pop()
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            total += int(next(x for x in status.splitlines() if x.startswith("VmRSS")).split()[1])
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            pids += [int(c) for c in children]
        except (FileNotFoundError, StopIteration):
            continue
    return total / 1024


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument(
        "--match-share", type=float, default=0.5, help="share of queries that are copies of listed pictures"
    )
    parser.add_argument("--soak", type=int, default=0, help="extra seconds of mixed load, sampling memory")
    parser.add_argument("--data", type=Path, help="reuse a data folder built before (same --size)")
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    work = Path(tempfile.mkdtemp(prefix="stopspread-bench-"))
    data = args.data or work / "data"
    results: dict[str, object] = {"size": args.size, "workers": args.workers, "cores": os.cpu_count()}
    hashes_file = data / "bench-hashes.npy"
    if hashes_file.exists():
        hashes = np.load(hashes_file)
    else:
        t0 = time.perf_counter()
        hashes = build_list(data, args.size, rng)
        np.save(hashes_file, hashes)
        results["build_db_s"] = round(time.perf_counter() - t0, 1)
        shutil.rmtree(data / "index", ignore_errors=True)
    key = make_key(data)
    port = free_port()
    url = f"http://127.0.0.1:{port}"

    if not (data / "index" / "CURRENT").exists():
        process, cold = serve(data, port, 1)
        results["start_from_log_s"] = round(cold, 1)
        stop(process)  # writes the snapshot
    process, warm = serve(data, port, args.workers)
    results["start_from_snapshot_s"] = round(warm, 1)
    try:
        results["rss_after_start_mb"] = round(rss_mb(process.pid))
        pool = queries(hashes, 40_000, rng, args.match_share)
        results["batch"] = batch_load(url, key, pool, args.seconds, clients=2)
        results["single"] = single_load(url, key, pool, args.seconds, work)
        results["freshness"] = freshness(url, key)
        if args.soak:
            samples = []
            deadline = time.perf_counter() + args.soak
            while time.perf_counter() < deadline:
                batch_load(url, key, pool, 20, clients=1)
                samples.append(round(rss_mb(process.pid)))
            results["rss_during_soak_mb"] = samples
        results["rss_end_mb"] = round(rss_mb(process.pid))
    finally:
        stop(process)
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(results, indent=2))
    if args.markdown:
        args.markdown.write_text(to_markdown(results, sys.argv))


def to_markdown(results: dict, argv: list[str]) -> str:
    batch, single, fresh = results["batch"], results["single"], results["freshness"]
    lines = [
        f"Command: `python {' '.join(argv)}` (2-core machine; the load generator runs on the same cores).",
        "",
        "| measure | result |",
        "|---|---|",
        f"| list size | {results['size']:,} PDQ fingerprints, {results['workers']} worker processes |",
    ]
    if "build_db_s" in results:
        lines.append(f"| building the SQLite list (bulk insert) | {results['build_db_s']} s |")
    if "start_from_log_s" in results:
        lines.append(f"| first start, index built from the change log | {results['start_from_log_s']} s |")
    lines += [
        f"| start-up to ready from the snapshot | {results['start_from_snapshot_s']} s |",
        f"| batch lookups (POST /v1/match, 1000 a request) | {batch['lookups_per_s']:,.0f} fingerprints/s "
        f"({batch['matched_share']:.0%} matched, {batch['failed_requests']} failed requests) |",
        f"| single lookups (GET /v1/match, 32 connections) | {single['requests_per_s']:,.0f} requests/s, "
        f"p50 {single['p50_ms']:.1f} ms, p99 {single['p99_ms']:.1f} ms, p99.9 {single['p999_ms']:.1f} ms, "
        f"{single['non_2xx']} answers other than 200, {single['socket_errors']} timeouts or socket errors |",
        f"| addition matchable after | {fresh['add_visible_s'] * 1000:.1f} ms |",
        f"| withdrawal stops matching after | {fresh['withdraw_visible_s'] * 1000:.1f} ms "
        f"({fresh['requests_still_matching']} requests still matched) |",
        f"| resident memory, all server processes | {results['rss_after_start_mb']:,} MB after start, "
        f"{results['rss_end_mb']:,} MB at the end |",
    ]
    if "rss_during_soak_mb" in results:
        lines.append(f"| memory during the soak (MB, every ~20 s) | {results['rss_during_soak_mb']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
