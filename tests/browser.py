"""A real headless Chromium (Debian's, driven by Playwright) for end-to-end tests of the pages.

`.ci/run` installs Debian's `chromium`; Playwright's own browser downloads are never used.
The flags keep Chromium off the network it has no business reaching on a closed machine.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

CHROMIUM = os.environ.get("STOPSPREAD_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
    """A launched Playwright Chromium browser; tests open their own pages (``chromium.new_page()``)."""
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        raise FileNotFoundError(f"Chromium not found at {CHROMIUM}; `.ci/run` installs Debian's chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield browser
        browser.close()
