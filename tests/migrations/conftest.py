"""Fixtures of the migration tests: a private PostgreSQL cluster (tests/migrations/postgres.py)."""

from tests.migrations.postgres import postgres

__all__ = ["postgres"]
