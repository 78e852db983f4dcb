"""The sequential judge end to end on the real local stack, timed over several runs.

Run: ``uv run python bench/judge_e2e.py [--runs N] [--rps R]``

Starts `rollway up` (Temporal dev server, Prometheus, HAProxy) in a temporary home and
a worker in this process, makes `v4-base` (2 % errors, `examples/demo/releases`) the
stable version, then promotes `v5-2x` (4 % errors: twice the stable's rate, inside a
0.8 success-rate guard) N times under steady load with one 50 % step soaking for
minutes, judged by the sequential judge every 2 s. Prints, per run and as the median,
the time from the canary's first traffic to the rollback (weight 0), the same figure
`tests/integration/test_judge_e2e.py` prints once.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

from rollway import stack
from rollway.metrics.spec import AnalysisSpec, MetricCheck, SequentialSpec
from rollway.models import ApprovalInput, Outcome, PromotionInput, PromotionState
from rollway.platform.base import Target
from rollway.platform.local import LocalPlatform
from rollway.spec import CanaryStep, PipelineSpec
from rollway.spec_catalog import CatalogConfig
from rollway.spec_loader import load_pipeline
from workers.main import build_worker, connect
from workflows.promotion import PromotionWorkflow

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = Target(service="demo", environment="production")
STABLE, CANARY = "v4-base", "v5-2x"
SOAK = timedelta(minutes=4)


def pipeline(judged: bool) -> PipelineSpec:
    """The demo pipeline: quick unjudged steps, or one long 50 % step with the judge."""
    spec = load_pipeline(ROOT / "pipelines" / "demo.yaml")
    if not judged:
        spec.canary.steps = [CanaryStep(weight=50, soak=timedelta(seconds=3))]
        spec.canary.analysis = AnalysisSpec()
        return spec
    spec.canary.steps = [CanaryStep(weight=50, soak=SOAK)]
    spec.canary.analysis = AnalysisSpec(
        interval=timedelta(seconds=2),
        initial_delay=timedelta(seconds=2),
        failure_limit=1,
        inconclusive_limit=1000,
        judge="sequential",
        sequential=SequentialSpec(alpha=0.01, min_ratio=1.1),
        metrics=[
            MetricCheck(
                name="success-rate", template="haproxy-success-rate", min=0.8, min_samples=15
            )
        ],
    )
    return spec


async def run_once(queue: str, version: str, spec: PipelineSpec) -> PromotionState:
    """Promote `version`, approve it, wait for the end; the final state."""
    client = await connect(stack.temporal_address(Path(os.environ["ROLLWAY_HOME"])))
    commit = uuid.uuid4().hex[:12]
    h = await client.start_workflow(
        PromotionWorkflow.run,
        PromotionInput(
            service="demo",
            version=version,
            commit=commit,
            pipeline=spec,
            pipeline_dir=str(ROOT / "pipelines"),
            requested_by="bench",
        ),
        id=f"bench-demo-{commit}",
        task_queue=queue,
    )
    while True:
        state = await h.query(PromotionWorkflow.query_state)
        if state.stage.value == "approval":
            await h.execute_update("approve", ApprovalInput(by="bench"))
            break
        if state.outcome != Outcome.RUNNING:
            break
        await asyncio.sleep(0.1)
    await asyncio.wait_for(h.result(), SOAK.total_seconds() + 120)
    return await h.query(PromotionWorkflow.query_state)


def detection_seconds(state: PromotionState) -> float | None:
    """First canary traffic (weight set) to weight 0, or None without a rollback."""
    first = next((e.at for e in state.timeline if e.message.startswith("canary at 50%")), None)
    zero = next((e.at for e in state.timeline if "canary at 0%" in e.message), None)
    if first is None or zero is None:
        return None
    return (zero - first).total_seconds()


async def bench(runs: int, rps: int) -> list[float]:
    """Set up, then time `runs` rollbacks of the 2x-error canary."""
    home = Path(os.environ["ROLLWAY_HOME"])
    client = await connect(stack.temporal_address(home))
    queue = f"rollway-bench-{uuid.uuid4()}"
    times: list[float] = []
    with ThreadPoolExecutor(max_workers=64) as executor:
        # a development worker: the bench sends inline variants of pipelines/demo.yaml
        dev = CatalogConfig(folder=ROOT / "pipelines", allow_inline=True)
        async with build_worker(client, executor, task_queue=queue, catalog=dev):
            base = await run_once(queue, STABLE, pipeline(judged=False))
            if base.outcome != Outcome.PROMOTED:
                raise SystemExit(f"could not make {STABLE} stable: {base.reason}")
            spec = pipeline(judged=True)
            assert spec.run is not None
            url = LocalPlatform(home, spec.run).status(PRODUCTION).frontend_url
            load = subprocess.Popen(  # noqa: ASYNC220 - a long-lived child, stopped below
                [
                    sys.executable,
                    str(ROOT / "examples/demo/loadgen.py"),
                    str(url),
                    "--rps",
                    str(rps),
                ]
            )
            try:
                await asyncio.sleep(2)
                for i in range(runs):
                    state = await run_once(queue, CANARY, spec)
                    t = detection_seconds(state)
                    why = state.rollback_metrics[0].message if state.rollback_metrics else ""
                    print(f"run {i + 1}: {state.outcome.value} in {t}s; {why}", flush=True)
                    if state.outcome == Outcome.ROLLED_BACK and t is not None:
                        times.append(t)
            finally:
                load.terminate()
                load.wait(20)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rps", type=int, default=150)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rollway-bench-") as tmp:
        home = Path(tmp)
        os.environ["ROLLWAY_HOME"] = str(home)
        os.environ.pop("ROLLWAY_PROMETHEUS_URL", None)
        stack.up(home, worker=False)
        try:
            times = asyncio.run(bench(args.runs, args.rps))
        finally:
            stack.down(home)
    median = (
        f"{statistics.median(times):.1f}s (runs: {', '.join(f'{t:.1f}' for t in times)})"
        if times
        else "-"
    )
    print(
        f"{CANARY} (4 % errors) vs {STABLE} (2 %), 50 % weight, {args.rps} req/s, alpha 0.01, "
        f"min_ratio 1.1: rolled back {len(times)}/{args.runs}; first canary traffic -> "
        f"rollback median {median}"
    )


if __name__ == "__main__":
    main()
