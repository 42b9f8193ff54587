"""Storage: the service's tables (SQLAlchemy 2), their migrations (Alembic), opening a database."""

from stopspread.storage.db import make_engine, sessions, sqlite_url, upgrade

__all__ = ["make_engine", "sessions", "sqlite_url", "upgrade"]
