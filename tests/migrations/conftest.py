"""Fixtures of the migration tests: a private PostgreSQL cluster (tests/support/postgres.py)."""

from tests.support.postgres import postgres

__all__ = ["postgres"]
