"""Migration stage: the pipeline's forward-only migrations, before the canary.

Runs only for pipelines with a `migrations:` section, and only in executions that
took the `migrations` patch (asked only then, so other pipelines record nothing new).
A guard refusal ends the promotion `failed` before production traffic moves; a
later canary rollback never touches the schema (docs/migrations.md).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from rollway.migrations.models import MigrateInput, MigrateResult
    from rollway.models import Outcome, Stage
    from workflows.promotion.calls import activity
    from workflows.promotion.context import Promotion, Stop


def migrate_options(timeout: timedelta) -> dict[str, Any]:
    """Retried a few times (the ledger makes that safe); heartbeats while SQL runs."""
    return {
        "start_to_close_timeout": timeout + timedelta(minutes=1),
        "heartbeat_timeout": timedelta(seconds=60),
        "retry_policy": RetryPolicy(
            initial_interval=timedelta(seconds=5),
            maximum_interval=timedelta(minutes=1),
            maximum_attempts=3,
        ),
    }


async def migrate(p: Promotion) -> None:
    """Activity `migrate` on the canary's environment (production's ledger guards it)."""
    spec = p.spec.migrations
    if spec is None or not workflow.patched("migrations"):
        return
    environment = p.spec.canary.environment
    p.keeper.enter(Stage.MIGRATE, f"migrating the {environment} database")
    result = await activity(
        p,
        "migrate",
        MigrateInput(
            service=p.inp.service,
            version=p.inp.version,
            environment=environment,
            production=environment,
            migrations=spec,
            pipeline_dir=p.inp.pipeline_dir,
            applied_by=f"{workflow.info().workflow_id} ({p.inp.version})",
        ),
        MigrateResult,
        migrate_options(spec.timeout),
        what="migrations",
    )
    if result.refused:
        raise Stop(Outcome.FAILED, f"migration guard refused: {result.summary()}")
    p.keeper.log(f"migrations: {result.summary()}")
