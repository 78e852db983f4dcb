"""`rollway list`: promotions from Temporal's visibility, newest first."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from rollway import SEARCH_ATTRIBUTES
from rollway.cli.common import UserError, connect, out, run, user_errors
from rollway.cli.output import Format, OutputOpt, emit
from rollway.cli.status import OUTCOME_STYLE

if TYPE_CHECKING:
    from temporalio.client import Client, WorkflowExecution

WORKFLOW_TYPE = "PromotionWorkflow"
OUTCOMES = ("running", "promoted", "rolled_back", "rejected", "failed", "aborted", "superseded")
CLOSED_STATUS = {
    "TERMINATED": "terminated",
    "CANCELED": "aborted",
    "FAILED": "failed",
    "TIMED_OUT": "failed",
}


def _value(name: str, raw: str | None) -> str | None:
    """A filter value that is safe inside a visibility query string."""
    if raw is None:
        return None
    if not raw or any(c in raw for c in "\"'\\\n"):
        raise UserError(f"--{name} '{raw}': quotes and backslashes are not allowed", 2)
    return raw


def visibility_query(
    service: str | None, environment: str | None, outcome: str | None, running_only: bool
) -> str:
    """The list filter for Temporal's visibility store."""
    parts = [f'WorkflowType="{WORKFLOW_TYPE}"']
    if service:
        parts.append(f'RollwayService="{service}"')
    if environment:
        parts.append(f'RollwayEnvironment="{environment}"')
    if outcome == "running" or running_only:
        parts.append('ExecutionStatus="Running"')
    elif outcome and "RollwayOutcome" in SEARCH_ATTRIBUTES:
        parts.append(f'RollwayOutcome="{outcome}"')
    elif outcome:
        parts.append('ExecutionStatus!="Running"')
    return " AND ".join(parts)


def age(start: datetime, now: datetime) -> str:
    """`42s`, `5m`, `3h`, `2d`: how long ago a promotion started."""
    s = max(0, int((now - start).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            return f"{s // size}{unit}"
    return f"{s}s"


async def _row(client: Client, wf: WorkflowExecution, now: datetime) -> dict[str, Any]:
    from temporalio.client import WorkflowExecutionStatus
    from temporalio.common import SearchAttributeKey

    from rollway.models import PromotionResult

    def attr(name: str) -> str | None:
        return wf.typed_search_attributes.get(SearchAttributeKey.for_keyword(name))

    memo: dict[str, Any] = {}
    try:
        memo = dict(await wf.memo())
    except Exception:  # an unreadable memo only costs the version column
        memo = {}
    version = memo.get("version")
    stage = attr("RollwayStage")
    status = wf.status or WorkflowExecutionStatus.RUNNING
    if status == WorkflowExecutionStatus.RUNNING:
        outcome = "running"
    elif status == WorkflowExecutionStatus.COMPLETED:
        outcome = attr("RollwayOutcome") or ""
        if not outcome or version is None:
            handle = client.get_workflow_handle(
                wf.id, run_id=wf.run_id, result_type=PromotionResult
            )
            try:
                result = await handle.result(follow_runs=False)
                outcome = outcome or result.outcome.value
                version = version or result.version
            except Exception:
                outcome = outcome or "completed"
    else:
        outcome = CLOSED_STATUS.get(status.name, status.name.lower())
    return {
        "workflow_id": wf.id,
        "run_id": wf.run_id,
        "service": attr("RollwayService") or memo.get("service"),
        "version": version,
        "commit": attr("RollwayCommit") or memo.get("commit"),
        "environment": attr("RollwayEnvironment"),
        "stage": stage,
        "outcome": outcome,
        "started_at": wf.start_time.isoformat(),
        "closed_at": wf.close_time.isoformat() if wf.close_time else None,
        "age": age(wf.start_time, now),
    }


async def promotions(
    client: Client,
    *,
    service: str | None = None,
    environment: str | None = None,
    outcome: str | None = None,
    limit: int = 20,
) -> list[dict[str, Any]]:
    """The newest `limit` promotions matching the filters."""
    from temporalio.service import RPCError

    query = visibility_query(service, environment, outcome, running_only=False)
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    batch: list[WorkflowExecution] = []
    try:
        async for wf in client.list_workflows(query, page_size=max(limit, 10)):
            batch.append(wf)
            if len(batch) >= limit:
                rows += [
                    r
                    for r in await asyncio.gather(*(_row(client, w, now) for w in batch))
                    if not outcome or r["outcome"] == outcome
                ]
                batch = []
                if len(rows) >= limit:
                    break
        rows += [
            r
            for r in await asyncio.gather(*(_row(client, w, now) for w in batch))
            if not outcome or r["outcome"] == outcome
        ]
    except RPCError as e:
        raise UserError(
            f"cannot list promotions: {e.message} (are Rollway's search attributes "
            "registered? `rollway setup-namespace` adds them)"
        ) from None
    return rows[:limit]


def _table(rows: list[dict[str, Any]]) -> None:
    console = out()
    if not rows:
        console.print("no promotions match")
        return
    t = Table("service", "version", "commit", "environment", "stage", "outcome", "age", "id")
    for r in rows:
        style = OUTCOME_STYLE.get(r["outcome"], "")
        t.add_row(
            escape(r["service"] or "-"),
            escape(r["version"] or "-"),
            (r["commit"] or "-")[:12],
            escape(r["environment"] or "-"),
            r["stage"] or "-",
            f"[{style}]{r['outcome']}[/{style}]" if style else r["outcome"],
            r["age"],
            r["workflow_id"],
        )
    console.print(t)


def list_promotions(
    service: Annotated[
        str | None, typer.Option("--service", "-s", help="Only this service.")
    ] = None,
    environment: Annotated[
        str | None, typer.Option("--environment", "-e", help="Only this environment.")
    ] = None,
    outcome: Annotated[
        str | None,
        typer.Option(help=f"Only this outcome: {', '.join(OUTCOMES)}, terminated."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-l", min=1, help="At most this many.")] = 20,
    output: OutputOpt = Format.TABLE,
) -> None:
    """List promotions, newest first: service, version, stage, outcome, age."""
    with user_errors():
        svc = _value("service", service)
        env = _value("environment", environment)
        if outcome is not None and outcome not in (*OUTCOMES, "terminated"):
            raise UserError(
                f"--outcome '{outcome}': use one of {', '.join(OUTCOMES)}, terminated", 2
            )

    async def main() -> None:
        client = await connect()
        rows = await promotions(client, service=svc, environment=env, outcome=outcome, limit=limit)
        emit(rows, output, lambda: _table(rows))

    run(main())
