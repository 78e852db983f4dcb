"""`rollway demo`: the showcase. A good version goes to 100 %, a bad one rolls itself back.

Steps: bring the stack up; promote demo v1 (a first version goes straight to
100 %); start steady load through the production front door; promote v2
(good) live until promoted; promote v3 (10 % errors) live until it rolls
back by itself; summarise outcomes, the rollback's metrics, what the load
generator saw and how fast v3 was taken out of traffic.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

import rollway
from rollway.cli.common import UserError, connect, out, run, workflow_link
from rollway.cli.promote import announce, build_input, start
from rollway.cli.stack_cmds import bring_up
from rollway.cli.status import metrics_table, watch
from rollway.home import home, read_json

if TYPE_CHECKING:
    from temporalio.client import Client

    from rollway.models import PromotionState
    from rollway.platform.base import DeploymentStatus
    from rollway.spec import PipelineSpec

BOT = "demo-bot"
SERVICE = "demo"
FIRST_CANARY = re.compile(r"^canary at (\d+)%")
AT_ZERO = "canary at 0%"


def _root_file(rel: str) -> Path:
    """`rel` under the current folder, else under the Rollway checkout."""
    here = Path.cwd() / rel
    if here.exists():
        return here
    repo = Path(rollway.__file__).resolve().parent.parent / rel
    if repo.exists():
        return repo
    raise UserError(f"{rel} not found: run `rollway demo` from the Rollway checkout")


def fresh_commit(version: str) -> str:
    """A new sha per run, so a rerun starts new promotions instead of attaching."""
    return hashlib.sha1(f"{version}-{time.time_ns()}".encode()).hexdigest()[:12]


def step(n: int, total: int, text: str) -> None:
    out().rule(f"[bold]step {n}/{total}[/bold]  {text}", align="left")


# --- the load generator -------------------------------------------------------------------


@dataclass
class LoadGen:
    """examples/demo/loadgen.py as a background process writing JSON stats every second."""

    url: str
    rps: float
    stats: Path
    proc: subprocess.Popen[bytes] | None = None
    pidfile: Path = field(default_factory=lambda: home() / "demo-load.pid")

    def start(self) -> None:
        stop_previous(self.pidfile)
        self.stats.unlink(missing_ok=True)
        log = open(home() / "logs" / "demo-load.log", "ab")  # noqa: SIM115 (the child owns it)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(_root_file("examples/demo/loadgen.py")),
                self.url,
                "--rps",
                str(self.rps),
                "--stats",
                str(self.stats),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.pidfile.write_text(str(self.proc.pid))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.read().get("sent", 0) > 0:
                return
            if self.proc.poll() is not None:
                raise UserError(
                    f"the load generator exited ({self.proc.returncode}); see "
                    f"{home() / 'logs' / 'demo-load.log'}"
                )
            time.sleep(0.2)
        raise UserError(f"the load generator wrote no stats to {self.stats} in 15s")

    def read(self) -> dict[str, Any]:
        try:
            data = read_json(self.stats, {})
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.pidfile.unlink(missing_ok=True)


def stop_previous(pidfile: Path) -> None:
    """Stop a load generator an earlier `rollway demo --keep-running` left behind."""
    try:
        pid = int(pidfile.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return
    if b"loadgen.py" in cmdline:
        os.kill(pid, signal.SIGTERM)
        out().print(f"stopped the load generator of an earlier demo (pid {pid})")
    pidfile.unlink(missing_ok=True)


def production(spec: PipelineSpec) -> DeploymentStatus:
    """What the demo's production environment runs on the local platform."""
    from rollway.platform.base import Target
    from rollway.platform.local.platform import LocalPlatform
    from rollway.spec import RunSpec

    production = Target(service=SERVICE, environment="production")
    return LocalPlatform(home(), spec.run or RunSpec(command=["true"])).status(production)


def frontend_url(spec: PipelineSpec) -> str | None:
    """The production front door of the demo service on the local platform."""
    status = production(spec)
    if status.frontend_url:
        return status.frontend_url
    port = (read_json(home() / "platform" / "demo.production.json", {}) or {}).get("frontend_port")
    return f"http://127.0.0.1:{port}" if port else None


# --- promotions ------------------------------------------------------------------------------


async def promote_and_watch(
    client: Client, pipeline: Path, version: str
) -> tuple[str, PromotionState]:
    """Promote `version` with a fresh commit, approve it as demo-bot, watch it to the end."""
    from temporalio.client import WorkflowUpdateFailedError

    from rollway.models import ApprovalInput, PromotionState, Stage

    request = build_input(SERVICE, version, fresh_commit(version), pipeline, BOT)
    inp = request.inp
    started = await start(client, inp, request.spec)
    announce(started, inp)
    handle = client.get_workflow_handle(started.workflow_id)

    async def auto_approve(state: PromotionState) -> None:
        if state.canary is not None and state.canary.paused:
            why = next(
                (e.message for e in reversed(state.timeline) if e.message.startswith("paused")),
                "paused",
            )
            raise UserError(
                f"{version} {why}\n"
                f"the demo stops here; the promotion waits: `rollway resume {started.workflow_id}`"
                f" or `rollway rollback {started.workflow_id}`"
            )
        if state.stage == Stage.APPROVAL and not any(a.by == BOT for a in state.approvals):
            # A refusal means we raced with the stage moving on: the next tick sees the truth.
            with contextlib.suppress(WorkflowUpdateFailedError):
                await handle.execute_update(
                    "approve",
                    ApprovalInput(by=BOT, comment="auto-approved by `rollway demo`"),
                    result_type=PromotionState,
                    rpc_timeout=timedelta(seconds=15),
                )

    return started.workflow_id, await watch(client, started.workflow_id, on_state=auto_approve)


def canary_exit_seconds(state: PromotionState) -> float | None:
    """From the first 'canary at N%' entry to the 'canary at 0%' entry, in seconds."""
    first = next((e for e in state.timeline if FIRST_CANARY.match(e.message)), None)
    if first is None:
        return None
    zero = next((e for e in state.timeline if AT_ZERO in e.message and e.at >= first.at), None)
    return (zero.at - first.at).total_seconds() if zero else None


def summary(results: list[tuple[str, str, PromotionState]], load: dict[str, Any]) -> bool:
    """Print the outcome table, the rollback's metrics and the traffic; True if as expected."""
    console = out()
    from rollway.models import Outcome

    expected = {"v1": Outcome.PROMOTED, "v2": Outcome.PROMOTED, "v3": Outcome.ROLLED_BACK}
    ok = True
    t = Table(
        "version",
        "promotion",
        "outcome",
        "expected",
        "took",
        "reason",
        title="summary",
        title_justify="left",
    )
    for version, wid, s in results:
        took = (
            (s.finished_at - s.started_at).total_seconds()
            if s.finished_at and s.started_at
            else 0.0
        )
        good = s.outcome == expected[version]
        ok &= good
        style = "green" if good else "red"
        t.add_row(
            version,
            wid,
            f"[{style}]{s.outcome.value}[/{style}]",
            expected[version].value,
            f"{took:.0f}s",
            escape(s.reason),
        )
    console.print(t)
    v3 = next((s for v, _, s in results if v == "v3"), None)
    if v3 is not None:
        if v3.outcome == Outcome.ROLLED_BACK:
            console.print(f"v3 rollback reason: [yellow]{escape(v3.reason)}[/yellow]")
        if v3.rollback_metrics:
            console.print(metrics_table(v3.rollback_metrics, "the metrics that rolled v3 back"))
        secs = canary_exit_seconds(v3)
        if secs is not None:
            console.print(f"v3 from its first canary traffic to weight 0: [bold]{secs:.1f}s[/bold]")
    if load:
        fivexx = sum(int(v) for k, v in load.items() if re.fullmatch(r"status_5\d\d", k))
        conn = int(load.get("connection_errors", 0))
        versions = ", ".join(
            f"{k.removeprefix('version_')}: {v}"
            for k, v in sorted(load.items())
            if k.startswith("version_")
        )
        style = "green" if conn == 0 else "red"
        console.print(
            f"load generator: sent {load.get('sent', 0)}, "
            f"200 {load.get('status_200', 0)}, 5xx {fivexx}, "
            f"[{style}]connection errors {conn}[/{style}] (served by {versions or '-'})"
        )
        ok &= conn == 0
    return ok


def min_rps(spec: PipelineSpec) -> float:
    """The load the first canary step needs for its analysis window to reach `min_samples`."""
    analysis = spec.canary.analysis
    need = max((m.min_samples for m in analysis.metrics), default=0)
    window = max(analysis.interval.total_seconds(), 5.0)  # the workflow's query window
    return need / (spec.canary.steps[0].weight / 100 * window)


async def run_demo(pipeline: Path, rps: float, keep_running: bool) -> bool:
    from rollway.stack import ui_url

    total = 6
    client = await connect()
    spec = build_input(SERVICE, "v1", fresh_commit("v1"), pipeline, BOT).spec
    assert spec is not None  # a local file
    if rps < (floor := min_rps(spec)):
        out().print(
            f"[yellow]warning:[/yellow] --rps {rps:g} is below {floor:g}: the first "
            "canary step will see too few requests for its analysis and pause"
        )
    results: list[tuple[str, str, PromotionState]] = []
    stats = home() / "demo-load.json"
    load = LoadGen("", rps, stats)
    last: dict[str, Any] = {}
    try:
        prod = production(spec)
        if prod.stable is None:
            step(2, total, "promote demo v1: a first version goes straight to 100 %")
            wid, state = await promote_and_watch(client, pipeline, "v1")
            results.append(("v1", wid, state))
        else:
            step(2, total, f"production already runs demo {prod.stable.version}: no v1 needed")
        url = frontend_url(spec)
        if url is None:
            raise UserError("the demo's production front door is unknown: did v1 deploy?")
        step(3, total, f"steady load: {rps:g} requests/s on {url} (stats in {stats})")
        load.url = url
        load.start()
        step(4, total, "promote demo v2 (a good version): canary, analysis, 100 %")
        wid, state = await promote_and_watch(client, pipeline, "v2")
        results.append(("v2", wid, state))
        step(5, total, "promote demo v3 (10 % errors): the analysis should roll it back")
        wid, state = await promote_and_watch(client, pipeline, "v3")
        results.append(("v3", wid, state))
        last = load.read()
    finally:
        if not keep_running:
            load.stop()
            last = load.read() or last
    step(6, total, "summary")
    ok = summary(results, last)
    console = out()
    if keep_running and load.proc is not None:
        console.print(
            f"the load generator keeps running (pid {load.proc.pid}; stats in {stats});"
            f" stop it with `kill {load.proc.pid}`"
        )
    console.print(
        f"the stack keeps running: Temporal UI [bold]{ui_url(home())}[/bold]"
        + (f" (last promotion: {workflow_link(results[-1][1])})" if results else "")
        + "; `rollway down` stops it"
    )
    return ok


def demo(
    rps: Annotated[float, typer.Option(help="Requests per second of the load generator.")] = 40,
    keep_running: Annotated[
        bool, typer.Option("--keep-running", help="Leave the load generator running at the end.")
    ] = False,
) -> None:
    """The showcase: promote a good version, watch a bad one roll itself back."""
    step(1, 6, "bring up the local stack")
    bring_up()
    pipeline = run_root_pipeline()
    if not run(run_demo(pipeline, rps, keep_running)):
        out().print("[red]the demo did not go as expected (see above)[/red]")
        raise typer.Exit(1)


def run_root_pipeline() -> Path:
    try:
        return _root_file("pipelines/demo.yaml")
    except UserError as e:
        out().print(f"[red]error:[/red] {escape(e.message)}")
        raise typer.Exit(1) from None
