"""`rollway dora`: deployment frequency, lead time, change failure rate and time to restore."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from rollway.cli.common import UserError, connect, out, run, user_errors
from rollway.cli.listing import _value
from rollway.cli.output import Format, OutputOpt, emit

if TYPE_CHECKING:
    from rollway.dora import Deployment, DoraReport, GroupMetrics
    from rollway.spec import DoraTargets

STATUS_STYLE = {"met": "green", "missed": "red", "no data": "dim"}


def parse_since(text: str) -> timedelta:
    """`30d`, `12h`, `2w`: how far back the window reaches."""
    from rollway.durations import MAX_DURATION, format_duration, parse_duration

    try:
        window = parse_duration(text)
    except (ValueError, OverflowError):
        raise UserError(
            f"--since '{text}' is not a duration: write e.g. 30d, 12h or 2w", 2
        ) from None
    if window <= timedelta(0) or window > MAX_DURATION:
        raise UserError(
            f"--since '{text}': give a window above 0 and at most {format_duration(MAX_DURATION)}",
            2,
        )
    return window


def human(seconds: float | None) -> str:
    """`14m`, `2h05m`, `3d4h`: a duration for the table."""
    if seconds is None:
        return "-"
    s = round(seconds)
    for big, small, bs, ss in ((86400, 3600, "d", "h"), (3600, 60, "h", "m"), (60, 1, "m", "s")):
        if s >= big:
            a, b = divmod(s, big)
            return f"{a}{bs}" + (f"{b // small:02d}{ss}" if b // small else "")
    return f"{s}s"


def shown(metric: str, value: float | None) -> str:
    """A target's value in its unit: `33.3%`, `14m`, `1.50/day`."""
    if value is None:
        return "-"
    if metric == "change_failure_rate":
        return f"{value:.1%}"
    if metric.endswith("_s"):
        return human(value)
    return f"{value:.2f}/day"


def _targets(m: GroupMetrics) -> str:
    if not m.targets:
        return "-"
    short = {
        "deployments_per_day": "freq",
        "lead_time_s": "lead",
        "change_failure_rate": "cfr",
        "time_to_restore_s": "mttr",
    }
    return " ".join(
        f"[{STATUS_STYLE[c.status]}]{short[c.metric]} {c.status}[/{STATUS_STYLE[c.status]}]"
        for c in m.targets
    )


def _row(t: Table, m: GroupMetrics) -> None:
    cfr = "-" if m.change_failure_rate is None else f"{m.change_failure_rate:.1%}"
    mttr = human(m.time_to_restore_mean_s)
    if m.unrestored_since is not None:
        mttr += " [red](open)[/red]"
    t.add_row(
        escape(m.service),
        escape(m.environment),
        f"{m.successful} ok / {m.failed} failed",
        f"{m.deployments_per_day:.2f}",
        human(m.lead_time_median_s)
        + (f" (n={m.lead_time_samples})" if m.lead_time_samples else ""),
        cfr,
        mttr,
        _targets(m),
    )


def _table(report: DoraReport) -> None:
    console = out()
    since = report.since.strftime("%Y-%m-%d %H:%M")
    window = human(report.window_days * 86400)
    console.print(f"DORA metrics since {since} UTC (the last {window})")
    if not report.groups:
        console.print("no deployments in this window")
    else:
        t = Table(
            "service",
            "environment",
            "deployments",
            "per day",
            "lead time (median)",
            "change failure",
            "time to restore (mean)",
            "targets",
        )
        for m in report.groups:
            _row(t, m)
        if len(report.groups) > 1:
            _row(t, report.overall)
        console.print(t)
    for m in report.groups:
        for c in m.targets:
            if c.status == "missed":
                console.print(
                    f"[red]missed[/red] {escape(m.service)}/{escape(m.environment)}: {c.metric} "
                    f"{shown(c.metric, c.value)} should be {c.comparison} "
                    f"{shown(c.metric, c.target)}"
                )
        if m.unrestored_since is not None:
            console.print(
                f"[red]not restored[/red] {escape(m.service)}/{escape(m.environment)} since "
                f"{m.unrestored_since.isoformat()}"
            )
    if report.ignored:
        ignored = ", ".join(f"{n} {k}" for k, n in report.ignored.items())
        console.print(f"[dim]not deployments (production untouched): {ignored}[/dim]")
    if report.truncated:
        console.print("[yellow]more promotions matched than --limit: the oldest left out[/yellow]")


def dora(
    since: Annotated[
        str,
        typer.Option("--since", help="How far back: 30d, 12h, 2w (promotions that ended then)."),
    ] = "30d",
    service: Annotated[
        str | None, typer.Option("--service", "-s", help="Only this service.")
    ] = None,
    environment: Annotated[
        str | None, typer.Option("--environment", "-e", help="Only this environment.")
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", "-l", min=1, max=10000, help="Read at most this many runs.")
    ] = 1000,
    check: Annotated[
        bool, typer.Option("--check", help="Exit 1 when a pipeline's `dora: targets:` is missed.")
    ] = False,
    output: OutputOpt = Format.TABLE,
) -> None:
    """DORA metrics per service and environment: deployment frequency, lead time, change
    failure rate, time to restore; targets from the pipeline's `dora: targets:`."""
    with user_errors():
        window = parse_since(since)
        svc = _value("service", service)
        env = _value("environment", environment)

    async def main() -> DoraReport:
        from temporalio.service import RPCError

        from rollway.dora import compute
        from rollway.dora_history import later_rollbacks, read_history

        client = await connect()
        until = datetime.now(UTC)
        start = until - window
        try:
            history = await read_history(
                client, since=start, service=svc, environment=env, limit=limit
            )
            rollbacks = await later_rollbacks(client, start, svc)
        except RPCError as e:
            raise UserError(
                f"cannot list promotions: {e.message} (are Rollway's search attributes "
                "registered? `rollway setup-namespace` adds them)"
            ) from None
        report = compute(
            history.deployments,
            since=start,
            until=until,
            rollbacks=rollbacks,
            targets=_with_catalog_targets(history.targets, history.deployments),
            truncated=history.truncated,
        )
        emit(report.model_dump(mode="json"), output, lambda: _table(report))
        return report

    report = run(main())
    if check and any(c.status == "missed" for m in report.groups for c in m.targets):
        raise typer.Exit(1)


def _with_catalog_targets(
    recorded: dict[str, DoraTargets], deployments: list[Deployment]
) -> dict[str, DoraTargets]:
    """Targets recorded by inline runs, else this machine's catalog pipeline of the service
    (promotions that name their pipeline carry no spec in their input)."""
    from rollway.spec_catalog import local_catalog
    from rollway.spec_loader import SpecError, load_pipeline

    targets = dict(recorded)
    for service in sorted({d.service for d in deployments} - set(targets)):
        path = local_catalog() / f"{service}.yaml"
        try:
            spec = load_pipeline(path) if path.is_file() else None
        except SpecError:
            spec = None
        if spec is not None and spec.dora is not None:
            targets[service] = spec.dora.targets
    return targets
