"""A promotion with migrations on the time-skipping server, with the REAL `migrate` activity.

Every other activity is FakeWorld's; `migrate` is the production one (recorded in
`world.calls` on the way), run against the private PostgreSQL cluster.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
import temporalio.activity
from temporalio import activity
from temporalio.client import Client, WorkflowHistory

from activities.migrate import migrate as real_migrate
from rollway.migrations.models import MigrateInput, MigrateResult
from rollway.models import Outcome
from tests.histories.record import save_history
from tests.support.fake_world import FakeWorld
from tests.support.postgres import Cluster
from tests.support.promotions import pipeline, running

CREATE = "CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL);\n"


class RealMigrations(FakeWorld):
    def activities(self) -> list[Callable[..., Any]]:
        world = self

        @activity.defn(name="migrate")
        async def migrate(inp: MigrateInput) -> MigrateResult:
            world.calls.append(f"migrate:{inp.environment}")
            return await real_migrate(inp)

        fakes = [a for a in super().activities() if _name(a) != "migrate"]
        return [*fakes, migrate]


@pytest.fixture
def production_db(postgres: Cluster, monkeypatch: pytest.MonkeyPatch) -> str:
    url = postgres.create_database()
    monkeypatch.setenv("TEST_PRODUCTION_DB", url)
    return url


def spec_with(folder: Path, **overrides: Any) -> dict[str, Any]:
    return pipeline(
        approval=None,
        scan=None,
        migrations={"databases": {"production": "TEST_PRODUCTION_DB"}, "folder": str(folder)},
        **overrides,
    )


def columns(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'users' ORDER BY ordinal_position"
        ).fetchall()
    return [r[0] for r in rows]


def payload_text(history: WorkflowHistory) -> str:
    """Every payload of the history, decoded: what the server (and an archive) keeps."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "data" and isinstance(value, str):
                    found.append(base64.b64decode(value).decode(errors="replace"))
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(json.loads(history.to_json()))
    return "\n".join(found)


def patches(events: list[Any]) -> list[str]:
    """The ids of the patches a history recorded (`workflow.patched` markers)."""
    return [
        json.loads(e.marker_recorded_event_attributes.details["patch-data"].payloads[0].data)["id"]
        for e in events
        if e.HasField("marker_recorded_event_attributes")
        and e.marker_recorded_event_attributes.marker_name == "core_patch"
    ]


async def test_migrations_run_after_staging_and_before_the_canary(
    ts_client: Client, tmp_path: Path, production_db: str
) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_create_users.sql").write_text(CREATE)
    world = RealMigrations()
    async with running(ts_client, world, spec_with(folder)) as h:
        result = await h.result()
        history = await h.fetch_history()
        save_history(history, "timeskip-migrations-promoted")
    assert result.outcome == Outcome.PROMOTED, result.reason
    order = [c for c in world.calls if not c.startswith("analyze")]
    assert order.index("promote:staging") < order.index("migrate:production")
    assert order.index("migrate:production") < order.index("deploy:production")
    assert columns(production_db) == ["id", "email"]
    assert result.state is not None
    assert any(
        "applied 1 migration(s) (0001_create_users.sql)" in t.message for t in result.state.timeline
    )
    assert "migrations" in patches(list(history.events))
    # The spec's variable name travels; the database URL never does.
    text = payload_text(history)
    assert "TEST_PRODUCTION_DB" in text and production_db not in text


async def test_a_refused_migration_fails_the_promotion_before_production(
    ts_client: Client, tmp_path: Path, production_db: str
) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_create_users.sql").write_text(CREATE)
    world = RealMigrations()
    async with running(ts_client, world, spec_with(folder, staging=None)) as h:
        assert (await h.result()).outcome == Outcome.PROMOTED
    (folder / "0002_drop_email.sql").write_text("ALTER TABLE users DROP COLUMN email;\n")
    world = RealMigrations()
    async with running(ts_client, world, spec_with(folder, staging=None)) as h:
        result = await h.result()
    assert result.outcome == Outcome.FAILED
    assert "migration guard refused: 0002_drop_email.sql" in result.reason
    assert "ALTER TABLE users DROP COLUMN email" in result.reason
    assert "expand/contract" in result.reason
    assert not any(c.startswith("deploy:production") for c in world.calls)
    assert columns(production_db) == ["id", "email"]


async def test_a_canary_rollback_leaves_the_schema_migrated(
    ts_client: Client, tmp_path: Path, production_db: str
) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_create_users.sql").write_text(CREATE)
    (folder / "0002_add_nickname.sql").write_text("ALTER TABLE users ADD COLUMN nickname text;\n")
    world = RealMigrations(verdicts=["fail", "fail"])
    async with running(ts_client, world, spec_with(folder, staging=None)) as h:
        result = await h.result()
    assert result.outcome == Outcome.ROLLED_BACK
    assert "rollback:production" in world.calls
    assert columns(production_db) == ["id", "email", "nickname"]  # forward-only


async def test_pipelines_without_migrations_record_no_new_command(ts_client: Client) -> None:
    world = FakeWorld()
    async with running(ts_client, world, pipeline(approval=None, scan=None, staging=None)) as h:
        assert (await h.result()).outcome == Outcome.PROMOTED
        history = await h.fetch_history()
    recorded = patches(list(history.events))
    assert "release-control" in recorded and "migrations" not in recorded
    assert not any(c.startswith("migrate") for c in world.calls)


def _name(fn: Callable[..., Any]) -> str:
    """The activity name `fn` is registered under."""
    defn = temporalio.activity._Definition.from_callable(fn)
    assert defn is not None and defn.name
    return defn.name
