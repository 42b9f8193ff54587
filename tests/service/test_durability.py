"""Restarts, several workers, and a server killed in the middle of a stream of submissions."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from stopspread.service import store
from stopspread.service.live_index import LiveIndex
from stopspread.service.security import Role
from stopspread.storage import make_engine, sessions, upgrade
from stopspread.storage.models import Fingerprint
from tests.service.conftest import BACKENDS, add_people, make_settings, random_pdq, start

pytestmark = pytest.mark.parametrize("database_url", BACKENDS, indirect=True)


def test_restart_restores_the_snapshot_and_the_tail(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path / "data", database_url)
    client, state = start(settings)
    before = [random_pdq() for _ in range(20)]
    client.post("/v1/cases", json={"fingerprints": [{"pdq": p} for p in before]})
    client.__exit__(None, None, None)  # shutdown writes a snapshot
    snapshot_seq = int((settings.data / "index" / "CURRENT").read_text().split("-")[1])
    assert snapshot_seq == 20

    # Another worker goes on after the snapshot: 5 more, 2 withdrawn.
    engine = make_engine(settings.url())
    with sessions(engine)() as session:
        index = LiveIndex()
        index.load(session)
        hash_list = store.get_list(session, store.CASES_LIST)
        after = [random_pdq() for _ in range(5)]
        records = store.parse_records([{"pdq": p} for p in after])
        rows = store.add_fingerprints(session, hash_list=hash_list, records=records, index=index)
        store.set_status(session, fingerprints=rows[:2], status="withdrawn")
        session.commit()
    engine.dispose()

    client, state = start(settings)
    try:
        assert state.index.restored_from == 20  # not rebuilt from the whole log
        assert state.index.seq == 27 and state.index.size == 23
        keys, _ = add_people(state)
        body = {"signals": [{"pdq": p} for p in before + after]}
        results = client.post("/v1/match", json=body, headers={"Authorization": f"Bearer {keys['platform']}"})
        matched = [r["matched"] for r in results.json()["results"]]
        assert matched == [True] * 20 + [False, False, True, True, True]
    finally:
        client.__exit__(None, None, None)


def test_two_workers_see_the_same_list(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path / "data", database_url)
    first, state = start(settings)
    second, _ = start(settings)
    keys, _ = add_people(state)
    platform = {"Authorization": f"Bearer {keys['platform']}"}
    try:
        pdq = random_pdq()
        opened = first.post("/v1/cases", json={"fingerprints": [{"pdq": pdq}]}).json()
        ask = {"signals": [{"pdq": pdq}]}
        assert second.post("/v1/match", json=ask, headers=platform).json()["results"][0]["matched"]
        secret = {"Authorization": f"Bearer {opened['secret']}"}
        first.post(f"/v1/cases/{opened['case_number']}/withdraw", headers=secret)
        assert not second.post("/v1/match", json=ask, headers=platform).json()["results"][0]["matched"]
    finally:
        first.__exit__(None, None, None)
        second.__exit__(None, None, None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(data: Path, database_url: str, port: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "stopspread", "serve", "--port", str(port), "--data", str(data)]
    if database_url:
        command += ["--database-url", database_url]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.kill()
    raise AssertionError("server did not become ready")


def test_kill_9_loses_nothing_acknowledged(tmp_path: Path, database_url: str) -> None:
    data = tmp_path / "data"
    settings = make_settings(data, database_url)
    engine = make_engine(settings.url())
    upgrade(engine)
    with sessions(engine)() as session:
        store.ensure_defaults(session)
        store.create_platform(session, name="p")
        _, key = store.create_key(session, name="p", role=Role.PLATFORM, platform="p")
        session.commit()

    port = _free_port()
    server = _serve(data, database_url, port)
    acknowledged: list[str] = []
    stop = threading.Event()

    def submit() -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            while not stop.is_set():
                pdq = random_pdq()
                try:
                    response = client.post("/v1/cases", json={"fingerprints": [{"pdq": pdq}]})
                except httpx.HTTPError:
                    return  # the server died mid-request: not acknowledged
                if response.status_code == 201:
                    acknowledged.append(pdq)

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while len(acknowledged) < 30 and time.monotonic() < deadline:
        time.sleep(0.05)  # kill in full flow: four writers, each with a request in flight
    os.kill(server.pid, signal.SIGKILL)
    server.wait()
    stop.set()
    for thread in threads:
        thread.join()
    assert len(acknowledged) > 10

    with sessions(engine)() as session:
        stored = {fp.pdq for fp in session.query(Fingerprint)}
    assert set(acknowledged) <= stored

    server = _serve(data, database_url, port)
    try:
        headers = {"Authorization": f"Bearer {key}"}
        for start_at in range(0, len(acknowledged), 1000):
            chunk = acknowledged[start_at : start_at + 1000]
            body = {"signals": [{"pdq": p} for p in chunk]}
            results = httpx.post(f"http://127.0.0.1:{port}/v1/match", json=body, headers=headers, timeout=30)
            assert all(r["matched"] for r in results.json()["results"])
    finally:
        server.kill()
        server.wait()
        engine.dispose()
