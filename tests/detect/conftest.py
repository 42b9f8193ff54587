"""A detector loaded once for the detector tests (loading takes a fraction of a second)."""

import json
from pathlib import Path

import pytest

from stopspread.detect import Detector

FIXTURES = Path(__file__).with_name("fixtures")


@pytest.fixture(scope="session")
def detector() -> Detector:
    return Detector.load()


def read_jsonl(name: str) -> list[dict]:
    return [json.loads(line) for line in (FIXTURES / name).read_text(encoding="utf-8").splitlines() if line]
