"""Shared fixtures: the read-only data folder beside the project."""

import os
from pathlib import Path

import pytest

# One Chromium for the whole run: Playwright's sync API allows one instance per thread, so the
# fixture must be defined once, here, not imported into each test module.
pytest_plugins = ["tests.browser"]

SHARED = Path(os.environ.get("STOPSPREAD_SHARED", Path(__file__).resolve().parents[1] / ".." / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        raise FileNotFoundError(f"shared data folder not found at {SHARED}; set STOPSPREAD_SHARED")
    return SHARED.resolve()


@pytest.fixture(scope="session")
def media_images(shared_dir: Path) -> list[Path]:
    return sorted((shared_dir / "data" / "media" / "images").glob("*.jpg"))


@pytest.fixture(scope="session")
def media_videos(shared_dir: Path) -> list[Path]:
    return sorted((shared_dir / "data" / "media" / "videos").glob("*.mp4"))
