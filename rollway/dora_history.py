"""Promotion records for DORA (`rollway/dora.py`) from Temporal's visibility and histories.

Closed `PromotionWorkflow` runs in the window come from visibility (service and
environment from the search attributes `promote` sets); per run, two small reads:
the close event (`PromotionResult`: outcome, version, final state) and the start
event (`PromotionInput`: `commit_time`, the pipeline's `dora.targets`). Both are
immutable once a run closed, so a `RecordCache` lets the worker's periodic export
read each run once. Cost is bounded: at most `limit` runs, `concurrency` reads at once.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rollway.dora import Deployment, LaterRollback

if TYPE_CHECKING:
    from temporalio.client import Client, WorkflowExecution

    from rollway.models import PromotionInput, PromotionResult
    from rollway.spec import DoraTargets

WORKFLOW_TYPE = "PromotionWorkflow"
PRODUCTION_STAGES = ("canary", "promoting", "rolling_back", "rollback_stuck")
"""Stages at which a run that closed without a result had touched production."""
CLOSED_STATUS = {"TERMINATED": "terminated", "CANCELED": "aborted", "FAILED": "failed"}


@dataclass
class RunRecord:
    """What one closed run contributes: its deployment record and its pipeline's targets."""

    deployment: Deployment
    targets: DoraTargets | None = None
    complete: bool = True  # both reads answered: cacheable


@dataclass
class RecordCache:
    """Closed runs by run id (they never change); bounded to `max_runs`."""

    max_runs: int = 5000
    runs: dict[str, RunRecord] = field(default_factory=dict)

    def keep_only(self, run_ids: set[str]) -> None:
        for run_id in [r for r in self.runs if r not in run_ids]:
            del self.runs[run_id]


@dataclass
class History:
    deployments: list[Deployment]
    targets: dict[str, DoraTargets]  # by service: the newest run's pipeline says
    truncated: bool
    fetched: int  # runs read from Temporal this time (not from the cache)


def visibility_query(
    since: datetime, service: str | None = None, environment: str | None = None
) -> str:
    """Closed promotions in the window. Filter values must already be checked (no quotes)."""
    for name, value in (("service", service), ("environment", environment)):
        if value is not None and (not value or any(c in value for c in "\"'\\\n")):
            raise ValueError(f"{name} '{value}': quotes and backslashes are not allowed")
    parts = [
        f'WorkflowType="{WORKFLOW_TYPE}"',
        'ExecutionStatus!="Running"',
        f'CloseTime>="{since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}"',
    ]
    if service:
        parts.append(f'RollwayService="{service}"')
    if environment:
        parts.append(f'RollwayEnvironment="{environment}"')
    return " AND ".join(parts)


def reached_production(outcome: str, result: PromotionResult | None, stage: str | None) -> bool:
    """Did this run change production? From its final state, else its last stage."""
    state = result.state if result is not None else None
    if state is None:
        return outcome in ("promoted", "rolled_back") or stage in PRODUCTION_STAGES
    canary = state.canary
    if outcome == "promoted":  # `already the stable version` moves no traffic
        return canary is None or canary.weight == 100
    if outcome == "rolled_back":
        return True
    return canary is not None and (canary.step >= 0 or canary.weight > 0)


async def _result(client: Client, wf: WorkflowExecution) -> PromotionResult | None:
    from rollway.models import PromotionResult

    handle = client.get_workflow_handle(wf.id, run_id=wf.run_id, result_type=PromotionResult)
    try:
        return await asyncio.wait_for(handle.result(follow_runs=False), 30)
    except Exception:  # failed, terminated or unreadable: the search attributes still tell
        return None


async def _input(client: Client, wf: WorkflowExecution) -> PromotionInput | None:
    from rollway.models import PromotionInput

    handle = client.get_workflow_handle(wf.id, run_id=wf.run_id)
    try:
        async with asyncio.timeout(30):
            async for event in handle.fetch_history_events(page_size=1):
                payloads = event.workflow_execution_started_event_attributes.input.payloads
                (inp,) = await client.data_converter.decode(payloads, [PromotionInput])
                return inp if isinstance(inp, PromotionInput) else None
    except Exception:  # an input an older model cannot read costs only its lead time
        return None
    return None


async def read_run(client: Client, wf: WorkflowExecution) -> RunRecord:
    """One closed run as a deployment record (two reads)."""
    from temporalio.client import WorkflowExecutionStatus
    from temporalio.common import SearchAttributeKey

    def attr(name: str) -> str | None:
        return wf.typed_search_attributes.get(SearchAttributeKey.for_keyword(name))

    completed = wf.status == WorkflowExecutionStatus.COMPLETED
    result, inp = await asyncio.gather(
        _result(client, wf) if completed else _none(), _input(client, wf)
    )
    if result is not None:
        outcome = result.outcome.value
    elif completed:
        outcome = attr("RollwayOutcome") or "unknown"
    else:
        name = wf.status.name if wf.status is not None else "UNKNOWN"
        outcome = CLOSED_STATUS.get(name, name.lower())
    state = result.state if result is not None else None
    finished = (state.finished_at if state else None) or wf.close_time or wf.start_time
    service = attr("RollwayService") or (inp.service if inp else "") or "unknown"
    spec = inp.pipeline if inp else None  # catalog promotions name theirs: see `targets`
    environment = attr("RollwayEnvironment") or (spec.canary.environment if spec else "unknown")
    deployment = Deployment(
        workflow_id=wf.id,
        run_id=wf.run_id,
        service=service,
        environment=environment,
        version=result.version if result else (inp.version if inp else ""),
        outcome=outcome,
        finished_at=finished if finished.tzinfo else finished.replace(tzinfo=UTC),
        commit_time=inp.commit_time if inp else None,
        reached_production=reached_production(outcome, result, attr("RollwayStage")),
    )
    targets = spec.dora.targets if spec and spec.dora else None
    complete = inp is not None and (result is not None or not completed)
    return RunRecord(deployment, targets, complete=complete)


async def _none() -> Any:
    return None


async def later_rollbacks(
    client: Client, since: datetime, service: str | None = None
) -> list[LaterRollback]:
    """Rollbacks after promotion, which fail the release they undid.

    The hook for `RollbackWorkflow` (being built): read its closed runs here and map
    each to a `LaterRollback` (service, environment, when traffic was back, the
    version it rolled back from). Until it lands there are none to read.
    """
    return []


async def read_history(
    client: Client,
    *,
    since: datetime,
    service: str | None = None,
    environment: str | None = None,
    limit: int = 1000,
    concurrency: int = 8,
    cache: RecordCache | None = None,
) -> History:
    """Every closed promotion in the window (newest `limit`), as DORA records."""
    runs: list[WorkflowExecution] = []
    truncated = False
    query = visibility_query(since, service, environment)
    async for wf in client.list_workflows(query, page_size=min(limit + 1, 1000)):
        if len(runs) >= limit:
            truncated = True
            break
        runs.append(wf)
    gate = asyncio.Semaphore(concurrency)
    fetched = 0

    async def record(wf: WorkflowExecution) -> RunRecord:
        nonlocal fetched
        if cache is not None and (hit := cache.runs.get(wf.run_id)) is not None:
            return hit
        async with gate:
            rec = await read_run(client, wf)
        fetched += 1
        if cache is not None and rec.complete and len(cache.runs) < cache.max_runs:
            cache.runs[wf.run_id] = rec
        return rec

    records = await asyncio.gather(*(record(wf) for wf in runs))
    if cache is not None:
        cache.keep_only({wf.run_id for wf in runs})
    newest: dict[str, RunRecord] = {}  # per service: its newest run's pipeline sets the targets
    for rec in records:
        d, seen = rec.deployment, newest.get(rec.deployment.service)
        if seen is None or d.finished_at > seen.deployment.finished_at:
            newest[d.service] = rec
    return History(
        deployments=[r.deployment for r in records],
        targets={s: r.targets for s, r in newest.items() if r.targets is not None},
        truncated=truncated,
        fetched=fetched,
    )
