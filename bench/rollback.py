"""Seed 004's bar: from `rollway rollback demo` to traffic on the earlier release (goal ≤ 30 s).

Run: ``uv run python bench/rollback.py [--runs N] [--no-baseline]``

In a temporary home, `rollway up`'s real stack (Temporal dev server, Prometheus,
HAProxy, the worker process) and the demo load generator (50 rps). v1, v2 and v4
are promoted through the demo pipeline with short soaks (v2 and v4 pass their
canaries). Then each run executes the real command, ``rollway rollback demo
--previous`` first and ``--to v4`` / ``--to v2`` alternately after it, while a
poller reads the front door every 20 ms. Per run it prints:

- traffic: seconds from starting the command to the moment after which every
  answer through HAProxy comes from the target (no answer from the old one after);
- command: seconds until the command exits (that includes the verification after
  the switch: smoke checks through the front door and the metric analyses).

Then the medians. The baseline, in the same run, is what a rollback cost before:
a new promotion of the old version (build, scan, staging, approval, the canary ramp
with this bench's short soaks; the demo pipeline's own soaks are 3 x 20 s).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import yaml
from temporalio.client import Client

from rollway import TASK_QUEUE, stack
from rollway.models import ApprovalInput, PromotionInput, PromotionResult, PromotionState
from rollway.spec_loader import load_pipeline
from workers.main import connect

ROOT = Path(__file__).resolve().parent.parent
GOAL_S = 30.0


def bench_pipeline(home: Path) -> Path:
    """The demo pipeline with soaks short enough to set up three releases quickly."""
    data = yaml.safe_load((ROOT / "pipelines" / "demo.yaml").read_text())
    data["canary"]["steps"] = [{"weight": 20, "soak": "8s"}, {"weight": 50, "soak": "6s"}]
    data["canary"]["analysis"].update({"interval": "2s", "initial_delay": "3s"})
    path = home / "demo.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


async def promoted(client: Client, version: str, pipeline: Path) -> float:
    """Promote `version` (approved as soon as asked); seconds from start to 100 %."""
    commit = uuid.uuid4().hex[:12]
    started = time.monotonic()
    handle = await client.start_workflow(
        "PromotionWorkflow",
        PromotionInput(
            service="demo",
            version=version,
            commit=commit,
            pipeline=load_pipeline(pipeline),
            pipeline_dir=str(ROOT / "pipelines"),
            requested_by="bench",
        ),
        id=f"promote-demo-{commit}",
        task_queue=TASK_QUEUE,
        result_type=PromotionResult,
    )
    while True:
        state = await handle.query("state", result_type=PromotionState)
        if state.stage.value == "approval":
            await handle.execute_update(
                "approve", ApprovalInput(by="bench"), result_type=PromotionState
            )
            break
        if state.outcome.value != "running":
            raise SystemExit(f"{version} ended before approval: {state.reason}")
        await asyncio.sleep(0.2)
    result = await handle.result()
    if result.outcome.value != "promoted":
        raise SystemExit(f"{version} was not promoted: {result.reason}")
    return time.monotonic() - started


class Poller:
    """Reads the front door every 20 ms and keeps (time, version) answers."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.seen: list[tuple[float, str]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=1.0) as c:
            while not self.stop.is_set():
                try:
                    text = c.get(self.url).text.strip()
                    self.seen.append((time.monotonic(), text.removeprefix("hello from ")))
                except httpx.HTTPError:
                    self.seen.append((time.monotonic(), "error"))
                time.sleep(0.02)

    def switched(self, since: float, target: str) -> float | None:
        """Seconds from `since` to the first target answer after the last other answer."""
        answers = [(t, v) for t, v in self.seen if t >= since]
        last_other = max((t for t, v in answers if v != target), default=since)
        first = next((t for t, v in answers if v == target and t >= last_other), None)
        return None if first is None else first - since


def breakdown(doc: dict[str, Any], wall0: datetime) -> str:
    """Where a run's time went: the command's start, then the workflow's timeline."""
    state = doc["state"]
    started = datetime.fromisoformat(state["started_at"])
    lines = [f"    {(started - wall0).total_seconds():6.2f}s workflow started"]
    for e in state["timeline"]:
        at = (datetime.fromisoformat(e["at"]) - wall0).total_seconds()
        lines.append(f"    {at:6.2f}s {e['message'][:110]}")
    return "\n".join(lines)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def start_load(url: str) -> subprocess.Popen[bytes]:
    """The demo load generator, 50 rps, in its own session."""
    return subprocess.Popen(
        [sys.executable, str(ROOT / "examples" / "demo" / "loadgen.py"), url, "--rps", "50"],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
    )


def stop_load(load: subprocess.Popen[bytes]) -> None:
    load.terminate()
    load.wait(10)


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"ROLLWAY_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "rollway.cli.main", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--verbose", action="store_true", help="each run's timeline")
    a = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="rollway-bench-rollback-"))
    os.environ["ROLLWAY_HOME"] = str(home)
    try:
        stack.up(home, worker=True)
        asyncio.run(measure(home, a.runs, not a.no_baseline, a.verbose))
    finally:
        stack.down(home)


async def measure(home: Path, runs: int, baseline: bool, verbose: bool) -> None:
    pipeline = bench_pipeline(home)
    client = await connect(stack.temporal_address(home))
    print("setting up: v1 (first release), v2 and v4 through their canaries ...")
    await promoted(client, "v1", pipeline)
    url = _frontend(home)
    load = start_load(url)
    poller = Poller(url)
    try:
        for v in ("v2", "v4"):
            await promoted(client, v, pipeline)
        poller.thread.start()
        traffic: list[float] = []
        command: list[float] = []
        in_workflow: list[float] = []
        cpu: list[float] = []  # the command's own CPU time: its start-up under load
        current = "v4"
        for i in range(runs):
            target = "v2" if current == "v4" else "v4"
            how = ["--previous"] if i == 0 else ["--to", target]
            t0 = time.monotonic()
            wall0 = datetime.now(UTC)
            cpu0 = _children_cpu()
            done = await asyncio.to_thread(
                cli,
                home,
                "rollback",
                "demo",
                *how,
                "--pipeline",
                str(pipeline),
                "--inline",  # the bench's own pipeline file; `rollway up`'s worker is a dev one
                "--by",
                "bench",
                "-o",
                "json",
            )
            took = time.monotonic() - t0
            cpu.append(_children_cpu() - cpu0)
            if done.returncode != 0:
                raise SystemExit(
                    f"rollback failed ({done.returncode}):\n{done.stdout}{done.stderr}"
                )
            moved = poller.switched(t0, target)
            if moved is None:
                raise SystemExit(f"the front door never answered from {target}:\n{done.stdout}")
            traffic.append(moved)
            command.append(took)
            state = json.loads(done.stdout)["state"]
            in_workflow.append(
                (
                    datetime.fromisoformat(state["traffic_moved_at"])
                    - datetime.fromisoformat(state["started_at"])
                ).total_seconds()
            )
            print(
                f"run {i + 1}: {current} -> {target} ({' '.join(how)}): traffic {moved:.2f}s, "
                f"command {took:.2f}s (its CPU {cpu[-1]:.2f}s)"
            )
            if verbose:
                print(breakdown(json.loads(done.stdout), wall0))
            current = target
        med = statistics.median(traffic)
        print(
            f"\nmedian over {runs} runs: command -> traffic on the target {med:.2f}s "
            f"(goal <= {GOAL_S:.0f}s: {'met' if med <= GOAL_S else 'MISSED'}); "
            f"command exits after verification in {statistics.median(command):.2f}s; "
            f"inside the workflow, start -> 100% on the target {statistics.median(in_workflow):.2f}s; "
            f"the command's CPU time {statistics.median(cpu):.2f}s; load average "
            f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
        )
        if baseline:
            back = f"{'v2' if current == 'v4' else 'v4'}-again"  # a new label: a new release
            t0 = time.monotonic()
            await promoted(client, back, pipeline)
            base = poller.switched(t0, back) or (time.monotonic() - t0)
            print(
                f"baseline (the old code promoted again as {back}, approved at once, "
                "8s+6s soaks): "
                f"{base:.2f}s to traffic; the rollback is {base / med:.1f}x faster"
            )
    finally:
        poller.stop.set()
        stop_load(load)


def _frontend(home: Path) -> str:
    from rollway.platform.base import Target
    from rollway.platform.local import LocalPlatform

    run = load_pipeline(ROOT / "pipelines" / "demo.yaml").run
    assert run is not None
    url = LocalPlatform(home, run).status(Target(service="demo", environment="production"))
    assert url.frontend_url is not None
    return url.frontend_url


if __name__ == "__main__":
    main()
