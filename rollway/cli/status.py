"""`rollway status`: where a promotion stands, once or live."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.markup import escape
from rich.panel import Panel
from rich.segment import Segment
from rich.table import Table
from rich.text import Text

from rollway.cli.common import UserError, connect, find, not_found, out, run, workflow_link
from rollway.cli.output import Format, OutputOpt, emit

if TYPE_CHECKING:
    from temporalio.client import Client, WorkflowHandle

    from rollway.models import AnalysisResult, MetricResult, PromotionState

TIMELINE_ROWS = 12
COMPACT_HEIGHT = 30
"""Terminals shorter than this get the compact live view."""
MAX_MISSES = 6
OUTCOME_STYLE = {
    "running": "cyan",
    "promoted": "green",
    "rolled_back": "yellow",
    "rejected": "red",
    "failed": "red",
    "aborted": "red",
    "superseded": "red",
}
STATUS_STYLE = {"pass": "green", "fail": "red", "inconclusive": "yellow", "error": "magenta"}

OnState = Callable[["PromotionState"], Awaitable[None]]


async def query_state(handle: WorkflowHandle[Any, Any], wait_s: float = 15.0) -> PromotionState:
    """The workflow's `state` query, with errors a user can act on."""
    from temporalio.service import RPCError, RPCStatusCode

    from rollway.models import PromotionState

    try:
        state: PromotionState = await handle.query(
            "state", result_type=PromotionState, rpc_timeout=timedelta(seconds=wait_s)
        )
        return state
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            raise not_found(handle.id) from None
        if e.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
            raise UserError(
                f"no worker answered about {handle.id} within {wait_s:.0f}s: "
                "is `rollway worker` (or `rollway up`) running?"
            ) from None
        raise UserError(f"cannot read the state of {handle.id}: {e.message}") from None


# --- rendering ---------------------------------------------------------------------


def _num(v: float | None) -> str:
    if v is None:
        return "-"
    if v == int(v) and abs(v) >= 1:
        return str(int(v))
    return f"{v:.4g}"


def _time(t: datetime | None) -> str:
    return t.astimezone().strftime("%H:%M:%S") if t else "-"


def _bound(m: MetricResult) -> str:
    parts = []
    if m.min is not None:
        parts.append(f"min {_num(m.min)}")
    if m.max is not None:
        parts.append(f"max {_num(m.max)}")
    return ", ".join(parts) or "-"


def _bar(weight: int, width: int = 20) -> str:
    filled = round(weight / 100 * width)
    return "█" * filled + "░" * (width - filled)


def metrics_table(metrics: list[MetricResult], title: str) -> Table:
    """One row per metric: value, bound(s), stable baseline, samples, status, message."""
    t = Table(title=title, title_justify="left", expand=False)
    for col in ("metric", "value", "bound", "stable", "samples", "status", "message"):
        t.add_column(col, overflow="fold")
    for m in metrics:
        style = STATUS_STYLE.get(m.status, "")
        t.add_row(
            escape(m.name),
            _num(m.value),
            _bound(m),
            _num(m.baseline),
            _num(m.samples),
            f"[{style}]{m.status}[/{style}]",
            escape(m.message),
        )
    return t


def _analysis(a: AnalysisResult) -> Table:
    style = STATUS_STYLE.get(a.status, "")
    return metrics_table(
        a.metrics,
        f"last analysis at {_time(a.at)} (weight {a.weight}%): "
        f"[{style}]{a.status}[/{style}] {escape(a.message)}",
    )


def pipeline_line(s: PromotionState) -> Text | None:
    """Which pipeline the worker ran and its digest; inline specs said in plain words."""
    from rollway.spec_catalog import INLINE_SOURCE

    if s.pipeline_digest is None:
        return Text(f"pipeline: {s.pipeline} (not loaded yet)", style="dim") if s.pipeline else None
    digest = s.pipeline_digest.removeprefix("sha256:")[:16]
    if s.pipeline_source == INLINE_SOURCE:
        return Text.from_markup(
            f"pipeline: [yellow]{escape(INLINE_SOURCE)}[/yellow]  sha256:{digest}"
        )
    return Text(f"pipeline: {s.pipeline} from {s.pipeline_source}  sha256:{digest}")


def unsigned_words(policy: Mapping[str, str]) -> str:
    """`decisions: staging accepts unsigned decisions; production requires signed ones`."""
    parts = [
        f"{env} accepts unsigned decisions"
        if v == "accepted"
        else f"{env} requires signed decisions (the CLI signs with your SSH key)"
        for env, v in sorted(policy.items())
    ]
    return "decisions: " + "; ".join(parts)


def render(
    state: PromotionState, workflow_id: str, link: str | None = None, *, compact: bool = False
) -> RenderableType:
    """Everything `rollway status` shows, as one rich renderable.

    `compact` (short terminals) keeps the head, the canary bar, one line per metric of
    the last analysis and the last few timeline entries.
    """
    from rollway.models import Outcome

    s = state
    style = OUTCOME_STYLE.get(s.outcome, "")
    head = Text.from_markup(
        f"[bold]{escape(s.service)}[/bold] {escape(s.version)} ({s.commit[:12]})  "
        f"stage [bold]{s.stage.value}[/bold]  outcome [{style}]{s.outcome.value}[/{style}]"
    )
    lines: list[RenderableType] = [
        head,
        Text(f"id {workflow_id}" + (f"  {link}" if link else ""), style="dim"),
    ]
    if s.reason:
        lines.append(Text.from_markup(f"reason: [{style}]{escape(s.reason)}[/{style}]"))
    if (pipeline := pipeline_line(s)) is not None:
        lines.append(pipeline)
    if s.stable_version:
        lines.append(Text(f"stable version: {s.stable_version}"))
    if s.unsigned_decisions:
        lines.append(Text(unsigned_words(s.unsigned_decisions)))
    if s.scan is not None:
        mark = "[green]passed[/green]" if s.scan.passed else "[red]blocked[/red]"
        lines.append(Text.from_markup(f"scan: {mark} {escape(s.scan.summary)}"))
    if s.approvals_required or s.approvals:
        approved = [a for a in s.approvals if a.decision == "approve"]
        need = max(0, s.approvals_required - len(approved))
        lines.append(
            Text(
                f"approvals: {len(approved)}/{s.approvals_required}"
                + (f", still needed: {need}" if need and s.outcome == Outcome.RUNNING else "")
            )
        )
        for a in [] if compact else s.approvals:
            mark = (
                "[green]✔ approved[/green]" if a.decision == "approve" else "[red]✘ rejected[/red]"
            )
            lines.append(
                Text.from_markup(
                    f"  {mark} by {escape(a.by)} at {_time(a.at)}"
                    + (f": {escape(a.comment)}" if a.comment else "")
                )
            )
    blocks: list[RenderableType] = [Group(*lines)]
    if s.canary is not None:
        c = s.canary
        step = f"step {c.step + 1}/{len(c.steps)}" if c.step >= 0 else f"0/{len(c.steps)} steps"
        paused = "  [bold yellow]PAUSED[/bold yellow] (`rollway resume`)" if c.paused else ""
        blocks.append(
            Text.from_markup(
                f"canary in {escape(c.environment)}  [cyan]{_bar(c.weight)}[/cyan] {c.weight:>3}%  "
                f"{step} ({', '.join(f'{w}%' for w in c.steps)}){paused}"
            )
        )
        if c.analyses and compact:
            blocks.append(_analysis_line(c.analyses[-1]))
        elif c.analyses:
            blocks.append(_analysis(c.analyses[-1]))
    if s.rollback_metrics and not compact:
        blocks.append(
            metrics_table(s.rollback_metrics, "[yellow]metrics that caused the rollback[/yellow]")
        )
    rows = 3 if compact else TIMELINE_ROWS
    if s.timeline:
        t = Table(
            title=f"timeline (last {min(rows, len(s.timeline))} of {len(s.timeline)})",
            title_justify="left",
            show_header=False,
            box=None,
            pad_edge=False,
        )
        t.add_column("at", style="dim", no_wrap=True)
        t.add_column("stage", no_wrap=True)
        t.add_column("message", overflow="fold")
        for e in s.timeline[-rows:]:
            t.add_row(
                _time(e.at),
                e.stage.value,
                escape(e.message) + (f" [dim](by {escape(e.by)})[/dim]" if e.by else ""),
            )
        blocks.append(t)
    return Panel(Group(*blocks), title="promotion", title_align="left", expand=False)


def _analysis_line(a: AnalysisResult) -> Text:
    """The last analysis on one line: status, then each metric's value and status."""
    style = STATUS_STYLE.get(a.status, "")
    metrics = "  ".join(
        f"{escape(m.name)} {_num(m.value)} [{STATUS_STYLE.get(m.status, '')}]{m.status}[/]"
        for m in a.metrics
    )
    return Text.from_markup(
        f"analysis {_time(a.at)}: [{style}]{a.status}[/{style}]  {metrics}", overflow="ellipsis"
    )


class Fitted:
    """A renderable cropped to at most `height` lines, so a live view never scrolls.

    A live display can only redraw what is on screen: a view taller than the terminal
    pushes a copy of itself into the scrollback on every refresh.
    """

    def __init__(self, renderable: RenderableType, height: int) -> None:
        self.renderable = renderable
        self.height = max(3, height)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        lines = console.render_lines(self.renderable, options.update(height=None), pad=False)
        if len(lines) > self.height:
            hidden = len(lines) - self.height + 1
            lines = [
                *lines[: self.height - 1],
                [Segment(f"… {hidden} more lines (a taller terminal shows them)", None)],
            ]
        yield from _join(lines)


def _join(lines: Iterable[list[Segment]]) -> Iterable[Segment]:
    for i, line in enumerate(lines):
        if i:
            yield Segment.line()
        yield from line


def live_view(
    state: PromotionState, workflow_id: str, link: str | None, console: Console
) -> Fitted:
    """The status view sized for the terminal: compact under ~30 lines, never taller."""
    height = console.size.height
    return Fitted(render(state, workflow_id, link, compact=height < COMPACT_HEIGHT), height - 1)


# --- watching ------------------------------------------------------------------------


async def watch(
    client: Client, workflow_id: str, *, on_state: OnState | None = None, interval: float = 1.0
) -> PromotionState:
    """Refresh the view every `interval` until the promotion ends; print the final state.

    On a terminal the view is redrawn in place (never taller than the terminal); when
    stdout is not a terminal nothing is redrawn: one line per stage change, then the
    final state.
    """
    from rollway.models import Outcome

    handle = client.get_workflow_handle(workflow_id)
    link = workflow_link(workflow_id)
    state = await query_state(handle)
    console = out()
    if not console.is_terminal:
        state = await _follow_plain(handle, state, console, on_state, interval)
        console.print(render(state, workflow_id, link))
        return state
    from rich.live import Live

    misses = 0
    with Live(
        live_view(state, workflow_id, link, console),
        console=console,
        auto_refresh=False,
        transient=True,
        screen=False,
        vertical_overflow="crop",
    ) as live:
        while state.outcome == Outcome.RUNNING:
            if on_state is not None:
                await on_state(state)
            await asyncio.sleep(interval)
            try:
                state = await query_state(handle, wait_s=10)
                misses = 0
            except UserError:
                misses += 1  # a worker restarting for a moment is not the end of the watch
                if misses >= MAX_MISSES:
                    raise
                continue
            live.update(live_view(state, workflow_id, link, console), refresh=True)
    console.print(render(state, workflow_id, link))
    return state


async def _follow_plain(
    handle: WorkflowHandle[Any, Any],
    state: PromotionState,
    console: Console,
    on_state: OnState | None,
    interval: float,
) -> PromotionState:
    """Not a terminal: print a line when the stage, weight or outcome changes."""
    from rollway.models import Outcome

    def key(s: PromotionState) -> tuple[str, int, str]:
        return (s.stage.value, s.canary.weight if s.canary else -1, s.outcome.value)

    last: tuple[str, int, str] | None = None
    misses = 0
    while True:
        if key(state) != last:
            last = key(state)
            weight = f" weight {state.canary.weight}%" if state.canary else ""
            console.print(f"{_time(datetime.now())} stage {state.stage.value}{weight}")
        if state.outcome != Outcome.RUNNING:
            return state
        if on_state is not None:
            await on_state(state)
        await asyncio.sleep(interval)
        try:
            state = await query_state(handle, wait_s=10)
            misses = 0
        except UserError:
            misses += 1
            if misses >= MAX_MISSES:
                raise


def state_document(state: PromotionState, workflow_id: str) -> dict[str, Any]:
    """The `state` query as JSON-compatible data, with the workflow id."""
    return {"workflow_id": workflow_id, **state.model_dump(mode="json")}


Ref = Annotated[str, typer.Argument(help="A service name, or a promotion id (promote-…).")]


def status(
    ref: Ref,
    watch_: Annotated[
        bool, typer.Option("--watch", "-w", help="Refresh every second until the promotion ends.")
    ] = False,
    output: OutputOpt = Format.TABLE,
    as_json: Annotated[bool, typer.Option("--json", help="Same as -o json.")] = False,
) -> None:
    """Show a promotion: stage, canary weight, last analysis, approvals, timeline."""
    fmt = Format.JSON if as_json else output

    async def main() -> None:
        client = await connect(warn_plaintext=True)
        found = await find(client, ref)
        if watch_ and fmt == Format.TABLE:
            await watch(client, found.workflow_id)
            return
        state = await query_state(client.get_workflow_handle(found.workflow_id))
        emit(
            state_document(state, found.workflow_id),
            fmt,
            lambda: out().print(render(state, found.workflow_id, workflow_link(found.workflow_id))),
        )

    run(main())


def get(ref: Ref, output: OutputOpt = Format.TABLE) -> None:
    """The same as `status` without --watch (kubectl's verb)."""
    status(ref, watch_=False, output=output, as_json=False)
