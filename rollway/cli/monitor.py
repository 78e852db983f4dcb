"""`rollway monitor`: a pipeline's health checks on a Temporal Schedule.

`install` creates (or updates) the schedule `monitor-<service>-<environment>`,
`run` checks once now, `show` prints the next runs and the last results,
`remove` deletes the schedule. `temporal schedule …` sees the same schedule.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from rollway import TASK_QUEUE
from rollway.cli.common import UserError, connect, out, run

if TYPE_CHECKING:
    from temporalio.client import Client

    from rollway.monitor.report import MonitorInput, MonitorReport

monitor = typer.Typer(help="Health checks on a schedule; a failure declares an incident.")

FileArg = Annotated[Path, typer.Argument(help="The pipeline file (with a `monitor:` section).")]
Env = Annotated[str, typer.Option("--environment", "-e", help="The monitored environment.")]


def _input(path: Path) -> MonitorInput:
    from rollway.monitor.report import MonitorInput
    from rollway.spec_loader import SpecError, load_pipeline

    try:
        spec = load_pipeline(path)
    except SpecError as e:
        raise UserError(str(e), 2) from None
    if spec.monitor is None:
        raise UserError(
            f"{path}: no `monitor:` section; add one (see docs/monitor.md) to monitor "
            f"{spec.service}",
            2,
        )
    return MonitorInput(service=spec.service, monitor=spec.monitor, incidents=spec.incidents)


async def _next_runs(client: Client, schedule: str, count: int = 6) -> list[str]:
    desc = await client.get_schedule_handle(schedule).describe()
    tz = desc.schedule.spec.time_zone_name or "UTC"
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(tz)
    return [f"{t.astimezone(zone):%a %Y-%m-%d %H:%M} {tz}" for t in desc.info.next_action_times][
        :count
    ]


@monitor.command()
def install(path: FileArg) -> None:
    """Create or update the pipeline's monitor schedule."""
    inp = _input(path)

    async def go() -> None:
        from temporalio.client import ScheduleAlreadyRunningError, ScheduleUpdate

        from rollway.monitor.schedule import monitor_schedule, schedule_id

        client = await connect()
        sid = schedule_id(inp.service, inp.monitor.environment)
        schedule = monitor_schedule(inp, TASK_QUEUE)
        try:
            await client.create_schedule(sid, schedule)
            verb = "created"
        except ScheduleAlreadyRunningError:
            await client.get_schedule_handle(sid).update(lambda _: ScheduleUpdate(schedule))
            verb = "updated"
        bh = inp.monitor.business_hours
        out().print(
            f"schedule {sid} {verb}: {len(inp.monitor.checks)} checks every "
            f"{int(bh.every.total_seconds() // 60)} min in business hours "
            f"({', '.join(bh.days)} {bh.start:02d}-{bh.end:02d}), every "
            f"{int(inp.monitor.off_hours.every.total_seconds() // 60)} min off-hours "
            f"({inp.monitor.timezone})"
        )
        for when in await _next_runs(client, sid):
            out().print(f"  next: {when}")

    run(go())


@monitor.command("run")
def run_once(path: FileArg) -> None:
    """Check once now, through the worker, and print the results (exit 1 when failing)."""
    inp = _input(path)

    async def go() -> MonitorReport:
        import uuid

        from rollway.monitor.report import MonitorReport
        from rollway.monitor.schedule import schedule_id

        client = await connect()
        report: MonitorReport = await client.execute_workflow(
            "HealthMonitorWorkflow",
            inp,
            id=f"{schedule_id(inp.service, inp.monitor.environment)}-now-{uuid.uuid4().hex[:8]}",
            task_queue=TASK_QUEUE,
            result_type=MonitorReport,
        )
        return report

    report = run(go())
    _print(report)
    if not report.healthy:
        raise typer.Exit(1)


def _print(report: MonitorReport) -> None:
    table = Table(
        "check", "kind", "result", "detail", title=f"{report.service}/{report.environment}"
    )
    for r in report.results:
        table.add_row(r.name, r.kind, "[green]ok[/]" if r.ok else "[red]FAIL[/]", escape(r.detail))
    out().print(table)
    if report.incident:
        out().print(f"on failure: {escape(report.incident)}")


@monitor.command()
def show(
    service: Annotated[str, typer.Argument(help="The service.")], environment: Env = "production"
) -> None:
    """The schedule's next runs and its most recent results."""

    async def go() -> None:
        from temporalio.service import RPCError

        from rollway.monitor.schedule import schedule_id

        client = await connect()
        sid = schedule_id(service, environment)
        try:
            desc = await client.get_schedule_handle(sid).describe()
        except RPCError:
            raise UserError(f"no monitor schedule {sid}: `rollway monitor install FILE`") from None
        state = "paused" if desc.schedule.state.paused else "active"
        out().print(f"schedule {sid}: {state}, {desc.info.num_actions} runs so far")
        for when in await _next_runs(client, sid):
            out().print(f"  next: {when}")
        for action in desc.info.recent_actions[-5:]:
            out().print(f"  ran: {action.started_at:%Y-%m-%d %H:%M:%S} UTC")

    run(go())


@monitor.command()
def remove(
    service: Annotated[str, typer.Argument(help="The service.")], environment: Env = "production"
) -> None:
    """Delete the monitor schedule (runs in flight finish)."""

    async def go() -> None:
        from temporalio.service import RPCError

        from rollway.monitor.schedule import schedule_id

        client = await connect()
        sid = schedule_id(service, environment)
        try:
            await client.get_schedule_handle(sid).delete()
        except RPCError:
            raise UserError(f"no monitor schedule {sid}") from None
        out().print(f"schedule {sid} removed")

    run(go())
