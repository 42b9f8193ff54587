"""The role guides in docs/ are executed against a running server, so their examples cannot rot."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from stopspread.service import store
from stopspread.service.security import Role
from stopspread.service.settings import Settings
from stopspread.storage import make_engine, sessions, upgrade
from tests.service.conftest import near, random_pdq
from tests.service.test_durability import _free_port, _serve

DOCS = Path(__file__).resolve().parents[1] / "docs"
BLOCK = re.compile(r"^```(python|bash)\n(.*?)^```", re.S | re.M)


def _blocks(guide: str) -> list[tuple[str, str]]:
    # A block that starts the server itself would run forever; the test has started one.
    return [
        (lang, code)
        for lang, code in BLOCK.findall((DOCS / guide).read_text())
        if "stopspread serve" not in code
    ]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    data = tmp_path_factory.mktemp("docs") / "data"
    engine = make_engine(Settings(data=data).url())
    upgrade(engine)
    listed, benign = random_pdq(), random_pdq()
    with sessions(engine)() as session:
        store.ensure_defaults(session)
        store.create_platform(session, name="docs-platform", trusted=True)
        keys = {
            role: store.create_key(
                session,
                name=role.value,
                role=role,
                platform="docs-platform" if role is Role.PLATFORM else None,
            )
            for role in (Role.PLATFORM, Role.REVIEWER, Role.INVESTIGATOR)
        }
        case, secret, _ = store.open_case(
            session,
            records=store.parse_records([{"pdq": listed}, {"pdq": near(benign, 4)}]),
            index=_NoNegatives(),
        )
        session.commit()
        env = {
            "DATA": str(data),
            "EXAMPLE_LISTED_PDQ": listed,
            "EXAMPLE_BENIGN_PDQ": benign,
            "EXAMPLE_CASE": case.number,
            "EXAMPLE_CASE_SECRET": secret,
            "EXAMPLE_INVESTIGATOR_ID": str(keys[Role.INVESTIGATOR][0].id),
        }
        secrets = {role: secret_ for role, (_, secret_) in keys.items()}
    engine.dispose()
    port = _free_port()
    process = _serve(data, "", port)
    env["STOPSPREAD_URL"] = f"http://127.0.0.1:{port}"
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    yield env, secrets
    process.kill()
    process.wait()


class _NoNegatives:
    def matches_negative(self, hexes: list[str]) -> bool:
        return False


def _run(guide: str, env: dict[str, str], key: str, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = _blocks(guide)
    assert blocks, f"{guide} has no runnable examples"
    full_env = {**os.environ, **env, "STOPSPREAD_API_KEY": key}
    monkeypatch.chdir(workdir)
    for name, value in full_env.items():
        monkeypatch.setenv(name, value)
    namespace: dict[str, object] = {}
    for lang, code in blocks:
        if lang == "python":
            exec(compile(code, f"{guide}:python", "exec"), namespace)
        else:
            done = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", code], env=full_env, capture_output=True, text=True
            )
            assert done.returncode == 0, f"{guide}:\n{code}\n{done.stdout}\n{done.stderr}"


def test_running_guide(server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    env, keys = server
    _run("running.md", env, keys[Role.PLATFORM], tmp_path, monkeypatch)
    assert (tmp_path / "exported.csv").read_text().count("pdq") >= 1


def test_platform_guide(server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    env, keys = server
    _run("platforms.md", env, keys[Role.PLATFORM], tmp_path, monkeypatch)


def test_reviewing_guide(server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    env, keys = server

    def benign_matches() -> bool:
        lookup = httpx.get(
            f"{env['STOPSPREAD_URL']}/v1/match",
            params={"pdq": env["EXAMPLE_BENIGN_PDQ"]},
            headers={"Authorization": f"Bearer {keys[Role.PLATFORM]}"},
        )
        return bool(lookup.json()["matched"])

    assert benign_matches()  # the case holds a fingerprint 4 bits from it
    _run("reviewing.md", env, keys[Role.REVIEWER], tmp_path, monkeypatch)
    assert not benign_matches()  # the guide listed it as known benign


def test_investigating_guide(server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    env, keys = server
    _run("investigating.md", env, keys[Role.INVESTIGATOR], tmp_path, monkeypatch)
