"""The ledger (`schema_migrations`): which files are applied, each applied with its row.

A file's SQL and its ledger row commit in one transaction, so a retried run (a worker
killed mid-file, a lost activity result) finds either both or neither: it never
applies a file twice. A session advisory lock keeps two runs on one database apart.
"""

from __future__ import annotations

from datetime import timedelta

from psycopg import AsyncConnection, sql
from psycopg.rows import TupleRow

from rollway.migrations.files import MigrationFile

LOCK_KEY = "rollway-migrations"


async def lock(conn: AsyncConnection[TupleRow], table: str) -> None:
    """Wait for this database's migration lock (released when the connection closes)."""
    await conn.execute("SELECT pg_advisory_lock(hashtext(%s))", [f"{LOCK_KEY}:{table}"])


async def ensure(conn: AsyncConnection[TupleRow], table: str) -> None:
    await conn.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} ("
            " name text PRIMARY KEY,"
            " checksum text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now(),"
            " applied_by text NOT NULL DEFAULT '')"
        ).format(sql.Identifier(table))
    )


async def applied(conn: AsyncConnection[TupleRow], table: str) -> dict[str, str]:
    """Applied file names and their checksums; empty when the ledger does not exist yet."""
    cur = await conn.execute("SELECT to_regclass(%s) IS NOT NULL", [table])
    row = await cur.fetchone()
    if row is None or not row[0]:
        return {}
    cur = await conn.execute(sql.SQL("SELECT name, checksum FROM {}").format(sql.Identifier(table)))
    return {str(name): str(checksum) for name, checksum in await cur.fetchall()}


async def apply(
    conn: AsyncConnection[TupleRow],
    migration: MigrationFile,
    *,
    table: str,
    lock_timeout: timedelta,
    applied_by: str,
) -> None:
    """Run one file and record it, atomically (the connection is in autocommit mode)."""
    async with conn.transaction():
        await conn.execute(
            "SELECT set_config('lock_timeout', %s, true)",
            [f"{int(lock_timeout.total_seconds() * 1000)}ms"],
        )
        # No parameters: the simple query protocol runs every statement of the file.
        await conn.execute(migration.sql.encode())
        await conn.execute(
            sql.SQL("INSERT INTO {} (name, checksum, applied_by) VALUES (%s, %s, %s)").format(
                sql.Identifier(table)
            ),
            [migration.name, migration.checksum, applied_by],
        )
