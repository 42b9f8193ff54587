"""The investigator's page in a real headless Chromium, against a running service."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from stopspread.service.app import create_app
from stopspread.service.settings import Settings
from tests.service.conftest import add_people
from tests.trace.conftest import Service, grant, spread


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Service]:
    app = create_app(Settings(data=tmp_path / "data"))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    deadline = time.monotonic() + 30
    while True:
        try:
            if client.get("/readyz").status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline
        time.sleep(0.05)
    state = app.state.stopspread
    keys, ids = add_people(state)
    try:
        yield Service(client, state, keys, ids)  # type: ignore[arg-type]
    finally:
        client.close()
        server.should_exit = True
        thread.join(10)


def test_the_page_draws_the_graph_and_names_the_earliest_sharer(live: Service, chromium) -> None:
    number, secret = spread(live)
    grant(live, number, secret)
    expected = live.client.get(
        f"/v1/investigations/cases/{number}/trace", headers=live.auth("investigator")
    ).json()

    page = chromium.new_page()
    try:
        response = page.goto(f"{live.client.base_url}/investigate")
        assert response is not None and response.ok
        assert "default-src 'none'" in response.headers["content-security-policy"]

        page.fill("#key", "ssk_wrong")
        page.fill("#case", number)
        page.click("#load")
        page.wait_for_selector("#status.error")
        assert "credentials" in page.inner_text("#status").lower()

        page.fill("#key", live.keys["investigator"])
        page.click("#load")
        page.wait_for_selector("#earliest-account")
        assert page.inner_text("#earliest-account") == "chatapp/u-first"
        assert page.locator("svg#graph circle.node").count() == len(expected["nodes"]) == 5
        assert page.locator("svg#graph line.edge").count() == len(expected["edges"]) == 4
        assert page.locator("svg#graph line.edge.inferred").count() == 2
        assert page.locator("svg#graph circle.node.earliest").get_attribute("data-id") == "chatapp:c1"
        assert page.locator("svg#timeline rect.bar").count() == len(expected["timeline"]["series"])
        assert "photoshare/p-intro" in page.inner_text("#introducers")
        assert page.is_visible("#bundle")
    finally:
        page.close()
