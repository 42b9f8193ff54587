"""A live service on a free port (uvicorn in a thread) and a phone-sized page on it."""

from __future__ import annotations

import base64
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, Page

from stopspread.service.app import create_app
from stopspread.service.settings import Settings

PHONE = {"width": 375, "height": 812}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    def __init__(self, settings: Settings) -> None:
        self.port = _free_port()
        config = uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="live-server", daemon=True)
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.url}/readyz").status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the live server did not become ready in 30 s")
            time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    # Case routes are rate-limited per address; the tests are one busy client.
    settings = Settings(data=tmp_path_factory.mktemp("web-data"), case_rate_per_minute=10_000)
    with LiveServer(settings) as server:
        yield server


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where each step's phone-size screenshot goes: $STOPSPREAD_SCREENSHOTS or pytest's tmp."""
    given = os.environ.get("STOPSPREAD_SCREENSHOTS")
    folder = Path(given) if given else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# Runs in the page: fingerprint files handed over as base64 with the page's own module, the
# same function the picker calls. (page.evaluate goes through the DevTools protocol, so the
# page's Content-Security-Policy, which forbids eval, does not stand in the way.)
FINGERPRINT_JS = """async (files) => {
  const m = await import('/web/fingerprint.js');
  const out = [];
  for (const [name, type, b64] of files) {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    try {
      out.push({ record: await m.fingerprintFile(new File([bytes], name, { type })) });
    } catch (error) {
      out.push({ error: String(error) });
    }
  }
  return out;
}"""


def file_arg(path: Path) -> list[str]:
    kind = "video/mp4" if path.suffix.lower() == ".mp4" else "image/jpeg"
    return [path.name, kind, base64.b64encode(path.read_bytes()).decode()]


def open_page(browser: Browser, server: LiveServer, errors: list[str], **context: object) -> Page:
    """A fresh phone-sized page on the live server; uncaught page errors are appended to ``errors``."""
    page = browser.new_context(viewport=PHONE, **context).new_page()  # type: ignore[arg-type]
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{server.url}/")
    page.wait_for_selector("body[data-ready=true]")
    return page


@pytest.fixture(scope="module")
def page(chromium: Browser, live_server: LiveServer) -> Iterator[Page]:
    """One page per test module, failing the module's last test if the page threw an error."""
    errors: list[str] = []
    page = open_page(chromium, live_server, errors)
    yield page
    page.context.close()
    assert not errors
