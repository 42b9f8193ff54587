"""The schema's migrations go up, down and up again, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError

from stopspread.storage import make_engine, upgrade
from stopspread.storage.db import alembic_config
from tests.service.conftest import BACKENDS

pytestmark = pytest.mark.parametrize("database_url", BACKENDS, indirect=True)

APPEND_ONLY = ("audit_log", "changes", "evidence_log", "evidence_checkpoints")


def test_up_down_up(database_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = database_url or f"sqlite:///{tmp_path / 'db.sqlite'}"
    engine = make_engine(url)
    upgrade(engine)
    assert set(APPEND_ONLY) <= set(inspect(engine).get_table_names())
    config = alembic_config(url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert not set(APPEND_ONLY) & set(inspect(engine).get_table_names())
    upgrade(engine)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO audit_log (at, actor, action, detail) VALUES (CURRENT_TIMESTAMP, 'a', 'b', '{}')"
            )
        )
    with engine.connect() as connection, pytest.raises(DBAPIError, match="append-only"):
        connection.execute(text("DELETE FROM audit_log"))
    engine.dispose()


def test_migrations_build_the_schema_the_models_describe(database_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from stopspread.storage.models import Base

    url = database_url or f"sqlite:///{tmp_path / 'db.sqlite'}"
    engine = make_engine(url)
    upgrade(engine)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert differences == []
