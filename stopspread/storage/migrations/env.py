"""Alembic environment: runs on the connection the caller passes, or on sqlalchemy.url."""

from alembic import context
from sqlalchemy import create_engine

from stopspread.storage.models import Base

config = context.config
connection = config.attributes.get("connection")


def run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


if connection is not None:
    run(connection)
else:
    with create_engine(config.get_main_option("sqlalchemy.url") or "").connect() as own:
        run(own)
        own.commit()
