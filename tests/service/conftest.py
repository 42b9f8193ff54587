"""A running service per test, on SQLite and (where a server is given) on PostgreSQL.

`.ci/run` starts Debian's PostgreSQL and sets STOPSPREAD_TEST_POSTGRES to an URL of a role
that may create databases; each test gets a database of its own. In CI the PostgreSQL runs are
required, not skipped.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from stopspread.service import store
from stopspread.service.app import State, create_app
from stopspread.service.security import Role
from stopspread.service.settings import Settings

POSTGRES = os.environ.get("STOPSPREAD_TEST_POSTGRES", "")
# Without a server (a developer's laptop) the PostgreSQL variants are not generated at all; in
# CI they always are, and fail loudly if the server is missing.
BACKENDS = ["sqlite", "postgresql"] if POSTGRES or os.environ.get("CI") else ["sqlite"]


def _require_postgres() -> str:
    if not POSTGRES:
        raise RuntimeError("set STOPSPREAD_TEST_POSTGRES to a PostgreSQL URL (`.ci/run` does)")
    return POSTGRES


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    backend = getattr(request, "param", "sqlite")
    if backend == "sqlite":
        yield ""
        return
    base = make_url(_require_postgres())
    name = f"stopspread_test_{secrets.token_hex(4)}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield base.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@dataclass
class Service:
    client: TestClient
    state: State
    keys: dict[str, str] = field(default_factory=dict)
    key_ids: dict[str, int] = field(default_factory=dict)

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    def open_case(self, *pdq: str) -> tuple[str, dict[str, str], list[int]]:
        response = self.client.post(
            "/v1/cases", json={"fingerprints": [{"kind": "image", "pdq": p} for p in pdq]}
        )
        assert response.status_code == 201, response.text
        body = response.json()
        return body["case_number"], {"Authorization": f"Bearer {body['secret']}"}, body["fingerprint_ids"]

    def lookup(self, *pdq: str, who: str = "platform", content: str | None = None) -> list[dict]:
        signals = [{"pdq": p, **({"content_id": content} if content else {})} for p in pdq]
        response = self.client.post("/v1/match", json={"signals": signals}, headers=self.auth(who))
        assert response.status_code == 200, response.text
        return response.json()["results"]


def make_settings(data: Path, database_url: str, **overrides: object) -> Settings:
    return Settings(data=data, database_url=database_url, **overrides)  # type: ignore[arg-type]


def start(settings: Settings) -> tuple[TestClient, State]:
    app = create_app(settings)
    client = TestClient(app)
    client.__enter__()
    deadline = time.monotonic() + 30
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, client.get("/readyz").text
        time.sleep(0.02)
    return client, app.state.stopspread


def add_people(state: State) -> tuple[dict[str, str], dict[str, int]]:
    keys, ids = {}, {}
    with state.sessions() as session:
        store.create_platform(session, name="chatapp", trusted=False)
        store.create_platform(session, name="photoshare", trusted=True)
        for who, role, platform in (
            ("platform", Role.PLATFORM, "chatapp"),
            ("trusted", Role.PLATFORM, "photoshare"),
            ("reviewer", Role.REVIEWER, None),
            ("investigator", Role.INVESTIGATOR, None),
            ("admin", Role.ADMIN, None),
            ("revoked", Role.REVIEWER, None),
        ):
            key, secret = store.create_key(session, name=who, role=role, platform=platform)
            keys[who], ids[who] = secret, key.id
        store.revoke_key(session, key_id=ids["revoked"])
        session.commit()
    return keys, ids


@pytest.fixture
def service(tmp_path: Path, database_url: str) -> Iterator[Service]:
    client, state = start(make_settings(tmp_path / "data", database_url))
    keys, ids = add_people(state)
    try:
        yield Service(client, state, keys, ids)
    finally:
        client.__exit__(None, None, None)


def random_pdq(rng: object | None = None) -> str:
    return secrets.token_hex(32)


def near(pdq: str, bits: int) -> str:
    """``pdq`` with its first ``bits`` bits flipped."""
    value = int(pdq, 16) ^ (((1 << bits) - 1) << (256 - bits))
    return f"{value:064x}"
