"""The migration stage against a real PostgreSQL: guard, expand/contract, idempotence, secrets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from rollway.migrations.models import MigrateInput, MigrateResult
from rollway.migrations.runner import MigrationError, run
from rollway.spec import MigrationsSpec
from tests.support.postgres import Cluster, free_port

CREATE = "CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL);\n"
EXPAND = (
    "ALTER TABLE users ADD COLUMN email_address text;\nUPDATE users SET email_address = email;\n"
)
CONTRACT = "ALTER TABLE users DROP COLUMN email;\n"
PAIR = {"expand": "0002_add_email_address.sql", "contract": "0003_drop_email.sql"}


def write(folder: Path, **files: str) -> None:
    folder.mkdir(exist_ok=True)
    for name, sql in files.items():
        (folder / f"{name}.sql").write_text(sql)


def inp(folder: Path, environment: str = "production", **spec: Any) -> MigrateInput:
    databases = {"production": "TEST_PRODUCTION_DB", "staging": "TEST_STAGING_DB"}
    return MigrateInput(
        service="demo",
        version="v2",
        environment=environment,
        production="production",
        migrations=MigrationsSpec(databases=databases, folder=str(folder), **spec),
        applied_by="test",
    )


async def migrate(request: MigrateInput) -> MigrateResult:
    return await run(request, lambda _: None)


def columns(url: str, table: str = "users") -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = %s ORDER BY ordinal_position",
            [table],
        ).fetchall()
    return [r[0] for r in rows]


def ledger(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT name FROM schema_migrations ORDER BY name")]


@pytest.fixture
def dbs(postgres: Cluster, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Fresh production and staging databases, named to the worker by variables."""
    urls = {"production": postgres.create_database(), "staging": postgres.create_database()}
    monkeypatch.setenv("TEST_PRODUCTION_DB", urls["production"])
    monkeypatch.setenv("TEST_STAGING_DB", urls["staging"])
    return urls


async def test_destructive_migration_is_refused_and_the_schema_is_unchanged(
    tmp_path: Path, dbs: dict[str, str]
) -> None:
    folder = tmp_path / "migrations"
    write(folder, **{"0001_create_users": CREATE})
    assert (await migrate(inp(folder))).applied == ["0001_create_users.sql"]
    # An additive file and a destructive one, pending together: neither is applied.
    write(folder, **{"0002_add_email_address": EXPAND, "0003_drop_email": CONTRACT})

    result = await migrate(inp(folder))

    assert result.applied == []
    [refusal] = result.refusals
    assert refusal.file == "0003_drop_email.sql"
    assert refusal.statement == "ALTER TABLE users DROP COLUMN email"
    assert "DROP COLUMN" in refusal.problem
    assert "expand/contract" in refusal.fix and "migrations.pairs" in refusal.fix
    assert columns(dbs["production"]) == ["id", "email"]  # untouched, 0002 included
    assert ledger(dbs["production"]) == ["0001_create_users.sql"]


@pytest.mark.parametrize(
    ("sql", "problem"),
    [
        ("DROP TABLE users;", "DROP TABLE"),
        ("ALTER TABLE users ALTER COLUMN email TYPE varchar(20);", "TYPE"),
        ("ALTER TABLE users RENAME COLUMN email TO mail;", "RENAME COLUMN"),
        ("ALTER TABLE users RENAME TO people;", "RENAME of table"),
        ("TRUNCATE users;", "TRUNCATE"),
        ("DO $$ BEGIN EXECUTE 'DROP TABLE users'; END $$;", "DO block"),
    ],
)
async def test_each_kind_of_destructive_statement_is_refused(
    tmp_path: Path, dbs: dict[str, str], sql: str, problem: str
) -> None:
    folder = tmp_path / "migrations"
    write(folder, **{"0001_create_users": CREATE})
    await migrate(inp(folder))
    write(folder, **{"0002_change": sql})

    result = await migrate(inp(folder))

    assert [r.file for r in result.refusals] == ["0002_change.sql"]
    assert problem in result.refusals[0].problem
    assert columns(dbs["production"]) == ["id", "email"]
    with psycopg.connect(dbs["production"]) as conn:
        assert conn.execute("SELECT to_regclass('users') IS NOT NULL").fetchone() == (True,)


async def test_contract_is_accepted_once_its_expand_is_applied_in_production(
    tmp_path: Path, dbs: dict[str, str]
) -> None:
    folder = tmp_path / "migrations"
    write(folder, **{"0001_create_users": CREATE, "0002_add_email_address": EXPAND})
    write(folder, **{"0003_drop_email": CONTRACT})
    # Expand and contract pending together: the contract's expand is not live yet.
    early = await migrate(inp(folder, pairs=[PAIR]))
    assert [r.file for r in early.refusals] == ["0003_drop_email.sql"]
    assert "0002_add_email_address.sql" in early.refusals[0].fix
    assert "not applied in production" in early.refusals[0].fix
    assert columns(dbs["production"]) == [] and early.applied == []

    # Release N ships only the expand.
    (folder / "0003_drop_email.sql").unlink()
    release_n = await migrate(inp(folder, pairs=[PAIR]))
    assert release_n.applied == ["0001_create_users.sql", "0002_add_email_address.sql"]

    # Staging, whose ledger is empty, may take the contract: production has the expand.
    write(folder, **{"0003_drop_email": CONTRACT})
    staging = await migrate(inp(folder, "staging", pairs=[PAIR]))
    assert staging.refusals == [] and "0003_drop_email.sql" in staging.applied
    assert columns(dbs["staging"]) == ["id", "email_address"]

    # Release N+1: the declared contract goes through in production too.
    release_n1 = await migrate(inp(folder, pairs=[PAIR]))
    assert release_n1.refusals == [] and release_n1.applied == ["0003_drop_email.sql"]
    assert columns(dbs["production"]) == ["id", "email_address"]

    # Undeclared, the same statement stays refused even with the expand live.
    write(folder, **{"0004_drop_more": "ALTER TABLE users DROP COLUMN email_address;"})
    undeclared = await migrate(inp(folder, pairs=[PAIR]))
    assert [r.file for r in undeclared.refusals] == ["0004_drop_more.sql"]


async def test_contract_in_staging_waits_for_production(
    tmp_path: Path, dbs: dict[str, str]
) -> None:
    folder = tmp_path / "migrations"
    write(folder, **{"0001_create_users": CREATE, "0002_add_email_address": EXPAND})
    write(folder, **{"0003_drop_email": CONTRACT})
    # Staging has applied the expand earlier; production has not.
    (folder / "0003_drop_email.sql").rename(tmp_path / "later.sql")
    await migrate(inp(folder, "staging", pairs=[PAIR]))
    (tmp_path / "later.sql").rename(folder / "0003_drop_email.sql")

    result = await migrate(inp(folder, "staging", pairs=[PAIR]))

    assert [r.file for r in result.refusals] == ["0003_drop_email.sql"]
    assert columns(dbs["staging"]) == ["id", "email", "email_address"]


async def test_a_rerun_applies_nothing(tmp_path: Path, dbs: dict[str, str]) -> None:
    folder = tmp_path / "migrations"
    write(folder, **{"0001_create_users": CREATE, "0002_add_email_address": EXPAND})
    first = await migrate(inp(folder))
    assert first.applied == ["0001_create_users.sql", "0002_add_email_address.sql"]

    again = await migrate(inp(folder))

    assert again.applied == [] and again.already_applied == 2 and again.refusals == []
    assert ledger(dbs["production"]) == first.applied
    assert columns(dbs["production"]) == ["id", "email", "email_address"]


async def test_a_failing_file_is_rolled_back_whole_and_a_retry_resumes(
    tmp_path: Path, dbs: dict[str, str]
) -> None:
    folder = tmp_path / "migrations"
    broken = "ALTER TABLE users ADD COLUMN nickname text;\nALTER TABLE nowhere ADD COLUMN x int;\n"
    write(folder, **{"0001_create_users": CREATE, "0002_nickname": broken})

    with pytest.raises(MigrationError, match=r"0002_nickname\.sql failed and was rolled back"):
        await migrate(inp(folder))

    assert ledger(dbs["production"]) == ["0001_create_users.sql"]
    assert columns(dbs["production"]) == ["id", "email"]  # no half-applied file
    write(folder, **{"0002_nickname": "ALTER TABLE users ADD COLUMN nickname text;\n"})
    resumed = await migrate(inp(folder))
    assert resumed.applied == ["0002_nickname.sql"] and resumed.already_applied == 1


async def test_an_applied_file_edited_afterwards_is_refused(
    tmp_path: Path, dbs: dict[str, str]
) -> None:
    folder = tmp_path / "migrations"
    write(folder, **{"0001_create_users": CREATE})
    await migrate(inp(folder))
    write(folder, **{"0001_create_users": CREATE + "-- tweaked\n"})

    result = await migrate(inp(folder))

    assert [r.file for r in result.refusals] == ["0001_create_users.sql"]
    assert "edited after it was applied" in result.refusals[0].problem


async def test_the_command_is_guarded_by_its_preview(tmp_path: Path, dbs: dict[str, str]) -> None:
    folder = tmp_path / "migrations"
    write(folder, **{"0001_create_users": CREATE})
    apply = (
        "import os, psycopg; c = psycopg.connect(os.environ['DATABASE_URL'], autocommit=True); "
        "c.execute('ALTER TABLE users ADD COLUMN IF NOT EXISTS age int')"
    )
    python = __import__("sys").executable
    safe = inp(
        folder,
        command=[python, "-c", apply],
        preview=[python, "-c", "print('ALTER TABLE users ADD COLUMN age int;')"],
    )
    result = await migrate(safe)
    assert result.command_ran and columns(dbs["production"]) == ["id", "email", "age"]

    destructive = inp(
        folder,
        command=[python, "-c", "raise SystemExit('must not run')"],
        preview=[python, "-c", "print('ALTER TABLE users DROP COLUMN age;')"],
    )
    refused = await migrate(destructive)
    assert [r.file for r in refused.refusals] == ["command preview"]
    assert not refused.command_ran and "age" in columns(dbs["production"])


async def test_database_urls_stay_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "migrations"
    write(folder, **{"0001_create_users": CREATE})
    monkeypatch.delenv("TEST_PRODUCTION_DB", raising=False)
    with pytest.raises(MigrationError, match=r"TEST_PRODUCTION_DB .* is not set"):
        await migrate(inp(folder))

    password = "hunter2-s3cret"
    monkeypatch.setenv(
        "TEST_PRODUCTION_DB", f"postgresql://app:{password}@127.0.0.1:{free_port()}/nowhere"
    )
    with pytest.raises(MigrationError) as failure:
        await migrate(inp(folder))
    assert failure.value.retryable
    assert password not in str(failure.value) and "127.0.0.1" in str(failure.value)
    # The payload names only the variable.
    assert password not in inp(folder).model_dump_json()
