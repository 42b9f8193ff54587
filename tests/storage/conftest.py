"""The service tests' database fixture (SQLite, and PostgreSQL when a server is given)."""

from tests.service.conftest import database_url  # noqa: F401
