"""The chaos harness: a real local stack per test, a worker in its own process group,
real HTTP load, and the checks every case makes on the recorded history.

Shared by tests/chaos (no imports from test modules): the stack comes from
`rollway.stack.up` (the code `rollway up` runs), the worker is `python -m workers.main`
started here as a separate OS process so it can be SIGKILLed, and the load is
`examples/demo/loadgen.py`. Everything started is killed by process group in a
finalizer, and again at interpreter exit if a finalizer never ran.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType, PendingActivityState
from temporalio.client import Client, WorkflowHandle

from rollway import stack
from rollway.home import read_json
from rollway.models import ApprovalInput, Outcome, PromotionInput, PromotionResult, PromotionState
from rollway.platform.base import DeployRequest, Target
from rollway.platform.local import LocalPlatform
from rollway.spec import NoBuild, PipelineSpec
from rollway.spec_loader import load_pipeline
from tests.histories.record import plaintext
from workflows.promotion import PromotionWorkflow

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = Target(service="demo", environment="production")
STAGING = Target(service="demo", environment="staging")
# Platform writes: each must complete at most once per target (and weight / version).
PLATFORM_WRITES = ("deploy", "set_weight", "promote", "rollback", "undo")
# Environment variables that would point a worker at another stack.
_FOREIGN_ENV = ("ROLLWAY_TEMPORAL_ADDRESS", "ROLLWAY_PROMETHEUS_URL", "TEMPORAL_ADDRESS")

# --- process groups: whatever a case starts dies with it ---------------------------

_GROUPS: set[int] = set()
_HOMES: set[Path] = set()


def kill_group(pid: int, sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _reap_everything() -> None:
    """Interpreter exit after a finalizer never ran (timeout, Ctrl-C): kill it all."""
    for pid in list(_GROUPS):
        kill_group(pid)
    for home in list(_HOMES):
        with contextlib.suppress(Exception):
            stack.down(home)


atexit.register(_reap_everything)


def spawn_group(argv: list[str], *, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start `argv` as the leader of its own process group, output to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            argv,
            cwd=str(ROOT),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _GROUPS.add(proc.pid)
    return proc


def stop_group(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    kill_group(proc.pid, sig)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(10)
    _GROUPS.discard(proc.pid)


# --- the stack ------------------------------------------------------------------------


@dataclass
class ChaosStack:
    """One test's stack: its home, a client, and the worker processes it started."""

    home: Path
    client: Client
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def part_pid(self, name: str) -> int:
        """Pid (= process group) of `temporal` or `prometheus`, from stack.json."""
        entry = read_json(self.home / "stack.json", {})[name]
        return int(entry["process"]["pid"])

    def part_port(self, name: str) -> int:
        return int(read_json(self.home / "stack.json", {})[name]["port"])

    def worker_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _FOREIGN_ENV}
        # A worker as `rollway up` runs it: addresses from stack.json, HAProxy supervised,
        # `worker.ready.json` once the server lists it polling.
        return env | {
            "ROLLWAY_HOME": str(self.home),
            "ROLLWAY_STACK_WORKER": "1",
            # a development worker, as `rollway up` starts it: inline (faster) specs accepted
            "ROLLWAY_PIPELINE_CATALOG": str(ROOT / "pipelines"),
            "ROLLWAY_DEV_INLINE_PIPELINES": "1",
        }

    async def start_worker(self, timeout: float = 60) -> float:
        """Start the real worker process; seconds until the server lists it polling."""
        ready = self.home / stack.WORKER_READY
        ready.unlink(missing_ok=True)
        started = time.monotonic()
        proc = spawn_group(
            [sys.executable, "-m", "workers.main"],
            env=self.worker_env(),
            log=self.home / "logs" / f"worker-{len(self.workers)}.log",
        )
        self.workers.append(proc)
        while time.monotonic() - started < timeout:
            data = read_json(ready)
            if isinstance(data, dict) and data.get("pid") == proc.pid:
                return time.monotonic() - started
            if proc.poll() is not None:
                break
            await asyncio.sleep(0.1)
        tail = (self.home / "logs" / f"worker-{len(self.workers) - 1}.log").read_text()[-3000:]
        raise AssertionError(f"worker pid {proc.pid} did not poll within {timeout}s:\n{tail}")

    def kill_worker(self) -> None:
        """SIGKILL the newest worker's whole process group."""
        stop_group(self.workers[-1], signal.SIGKILL)

    def close(self) -> None:
        for proc in self.workers:
            stop_group(proc, signal.SIGKILL)


def start_stack(home: Path) -> None:
    os.environ["ROLLWAY_HOME"] = str(home)
    for k in _FOREIGN_ENV:
        os.environ.pop(k, None)
    _HOMES.add(home)
    stack.up(home, worker=False)
    # The worker's groups file: the chaos cases abort and roll back as `chaos`, an owner
    # of the demo service (`owners: [demo-owners]` in pipelines/demo.yaml).
    (home / "groups.yaml").write_text("groups:\n  demo-owners: [chaos]\n")


def stop_stack(home: Path) -> None:
    try:
        stack.down(home)
    finally:
        _HOMES.discard(home)


# --- the pipeline, artifacts and the stable version ------------------------------------


def build_artifacts(out: Path, versions: list[str]) -> Path:
    """Build each version once with the demo's real build script (app, behaviour, SARIF)."""
    for v in versions:
        env = dict(os.environ) | {"ARTIFACT_DIR": str(out / v), "VERSION": v, "COMMIT": "chaos"}
        subprocess.run(
            [str(ROOT / "examples" / "demo" / "build.sh")],
            env=env,
            check=True,
            capture_output=True,
            timeout=120,
        )
    return out


def chaos_pipeline(artifacts: Path, steps: list[tuple[int, float]]) -> PipelineSpec:
    """The demo pipeline, prebuilt artifacts, short soaks: `steps` is [(weight, soak_s)]."""
    spec = load_pipeline(ROOT / "pipelines" / "demo.yaml")
    spec.build = NoBuild(artifact=str(artifacts / "{version}"))
    spec.canary.steps = spec.canary.steps[: len(steps)]
    for step, (weight, soak) in zip(spec.canary.steps, steps, strict=True):
        step.weight, step.soak = weight, timedelta(seconds=soak)
    a = spec.canary.analysis
    a.interval, a.initial_delay = timedelta(seconds=2), timedelta(seconds=2)
    # Outages make analyses inconclusive for a while: hold, never pause for a human here.
    a.inconclusive_limit = 60
    for m in a.metrics:
        m.min_samples = 10
        if m.name == "p99-latency":
            m.max = 2.0  # this suite judges failures, not a loaded CI box's latency
    return spec


def seed_stable(home: Path, spec: PipelineSpec, artifacts: Path, version: str = "v1") -> None:
    """`version` serving 100 % in staging and production, set up on the local platform.

    Both frontends exist before any case starts its load: a target's first deploy
    reloads HAProxy, and a reload drops a keep-alive request now and then (a product
    bug reported with `reproduce_reload_drop.py`), which is no chaos case's own error.
    """
    assert spec.run is not None
    for target in (STAGING, PRODUCTION):
        plat = LocalPlatform(home, spec.run, spec.environments[target.environment].platform)  # type: ignore[arg-type]
        plat.deploy(
            DeployRequest(target=target, version=version, artifact=str(artifacts / version))
        )
        plat.wait_ready(target, version, 30, lambda _: None)
        plat.promote(target)


def platform(home: Path, spec: PipelineSpec) -> LocalPlatform:
    assert spec.run is not None
    return LocalPlatform(home, spec.run, spec.environments["production"].platform)  # type: ignore[arg-type]


# --- driving a promotion -----------------------------------------------------------------


async def start_promotion(
    client: Client, spec: PipelineSpec, version: str
) -> WorkflowHandle[Any, PromotionResult]:
    commit = uuid.uuid4().hex[:12]
    return await client.start_workflow(
        PromotionWorkflow.run,
        PromotionInput(
            service="demo",
            version=version,
            commit=commit,
            pipeline=spec,
            pipeline_dir=str(ROOT / "pipelines"),
            requested_by="chaos",
        ),
        id=f"promote-demo-{version}-{commit}",
        task_queue="rollway",
    )


async def state_of(handle: WorkflowHandle[Any, Any]) -> PromotionState:
    return await handle.query(PromotionWorkflow.query_state)


async def wait_state(
    handle: WorkflowHandle[Any, Any],
    what: str,
    pred: Any,
    timeout: float = 90,
    every: float = 0.1,
) -> PromotionState:
    """Poll the `state` query until `pred(state)`; the timeline in the error otherwise."""
    deadline = time.monotonic() + timeout
    state: PromotionState | None = None
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):  # the server may be restarting
            state = await asyncio.wait_for(state_of(handle), 5)
            if pred(state):
                return state
            if state.outcome != Outcome.RUNNING:
                break
        await asyncio.sleep(every)
    raise AssertionError(f"never {what} within {timeout}s:\n{timeline(state)}")


def timeline(state: PromotionState | None) -> str:
    if state is None:
        return "(no state)"
    lines = [f"{e.at:%H:%M:%S.%f} {e.stage} {e.message}" for e in state.timeline]
    return f"{state.outcome} {state.reason}\n" + "\n".join(lines)


async def approve_when_asked(handle: WorkflowHandle[Any, Any], timeout: float = 90) -> None:
    state = await wait_state(
        handle, "reached approval", lambda s: s.stage.value in ("approval", "gate"), timeout
    )
    if state.stage.value == "approval":
        await handle.execute_update("approve", ApprovalInput(by="chaos-approver", comment="ok"))


async def finish(handle: WorkflowHandle[Any, PromotionResult], timeout: float) -> PromotionResult:
    try:
        return await asyncio.wait_for(handle.result(), timeout)
    except TimeoutError:
        state = await state_of(handle)
        raise AssertionError(
            f"promotion did not finish in {timeout}s:\n{timeline(state)}"
        ) from None


# --- load --------------------------------------------------------------------------------


class Load:
    """The demo load generator in its own process group, its stats sampled every 0.25 s
    (sample times are wall-clock, comparable with the history's event times)."""

    def __init__(self, home: Path, url: str, name: str, rps: int = 25) -> None:
        self.stats_file = home / f"load-{name}.json"
        self.proc = spawn_group(
            [
                sys.executable,
                str(ROOT / "examples" / "demo" / "loadgen.py"),
                url,
                "--rps",
                str(rps),
                "--stats",
                str(self.stats_file),
            ],
            env=dict(os.environ),
            log=home / "logs" / f"load-{name}.log",
        )
        self.samples: list[tuple[float, dict[str, int]]] = []
        self._sampler: asyncio.Task[None] | None = None

    def stats(self) -> dict[str, int]:
        data = read_json(self.stats_file, {})
        return {k: int(v) for k, v in data.items() if k != "time"} if data else {}

    async def __aenter__(self) -> Load:
        deadline = time.monotonic() + 20
        while self.stats().get("status_200", 0) == 0:
            if time.monotonic() > deadline:
                raise AssertionError(f"no traffic got through: {self.stats()}")
            await asyncio.sleep(0.1)
        self._sampler = asyncio.create_task(self._sample())
        return self

    async def _sample(self) -> None:
        while True:
            self.samples.append((time.time(), self.stats()))
            await asyncio.sleep(0.25)

    async def __aexit__(self, *exc: object) -> None:
        if self._sampler is not None:
            self._sampler.cancel()
        stop_group(self.proc, signal.SIGTERM)
        self.samples.append((time.time(), self.stats()))

    @property
    def final(self) -> dict[str, int]:
        return self.samples[-1][1] if self.samples else self.stats()

    def errors(self, stats: dict[str, int] | None = None) -> int:
        s = self.final if stats is None else stats
        return s.get("connection_errors", 0) + sum(
            v for k, v in s.items() if k.startswith("status_5")
        )

    def error_window(self) -> tuple[float, float] | None:
        """(first, last) wall-clock time at which the error count grew, or None."""
        times = [
            t
            for (_, a), (t, b) in zip(self.samples, self.samples[1:], strict=False)
            if self.errors(b) > self.errors(a)
        ]
        return (times[0], times[-1]) if times else None

    def error_times(self) -> list[float]:
        """Wall-clock sample times at which the error count grew."""
        return [
            t
            for (_, a), (t, b) in zip(self.samples, self.samples[1:], strict=False)
            if self.errors(b) > self.errors(a)
        ]


# --- the recorded history ------------------------------------------------------------------


@dataclass
class Call:
    """One scheduled activity in a history, with how it ended."""

    name: str
    key: str
    input: Any
    scheduled_at: float
    attempt: int = 0
    started_at: float | None = None
    outcome: str = "open"  # completed | failed | timed_out | canceled | open
    result: dict[str, Any] | None = None
    ended_at: float | None = None


def _payload(payloads: Any) -> Any:
    items = list(payloads.payloads)
    return json.loads(items[0].data) if items and items[0].data else None


def _key(name: str, inp: Any) -> str:
    if not isinstance(inp, dict):
        return name
    t = inp.get("target") or {}
    where = ".".join(str(x) for x in (t.get("environment"), t.get("cluster")) if x)
    extra = ""
    if name == "set_weight":
        extra = f" weight={inp.get('weight')}"
    elif name == "deploy":
        extra = f" version={inp.get('version')}"
    elif name == "undo":
        extra = f" to={inp.get('to_version')}"
    return f"{name} {where}{extra}"


async def signals(handle: WorkflowHandle[Any, Any]) -> list[tuple[str, float]]:
    """(signal name, wall-clock time) of every signal the promotion received."""
    history = await handle.fetch_history()
    return [
        (
            e.workflow_execution_signaled_event_attributes.signal_name,
            e.event_time.ToDatetime(tzinfo=UTC).timestamp(),
        )
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    ]


async def calls(handle: WorkflowHandle[Any, Any]) -> list[Call]:
    """Every activity the promotion scheduled, in order, with attempts and outcome."""
    history = plaintext(await handle.fetch_history())  # the stack encrypts its payloads
    by_id: dict[int, Call] = {}
    for e in history.events:
        at = e.event_time.ToDatetime(tzinfo=UTC).timestamp()
        et = e.event_type
        if et == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            a = e.activity_task_scheduled_event_attributes
            inp = _payload(a.input)
            name = a.activity_type.name
            by_id[e.event_id] = Call(name, _key(name, inp), inp, at)
        elif et == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            st = e.activity_task_started_event_attributes
            by_id[st.scheduled_event_id].attempt = st.attempt
            by_id[st.scheduled_event_id].started_at = at
        elif et == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            c = e.activity_task_completed_event_attributes
            call = by_id[c.scheduled_event_id]
            call.outcome, call.result, call.ended_at = "completed", _payload(c.result), at
        elif et == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED:
            f = e.activity_task_failed_event_attributes
            by_id[f.scheduled_event_id].outcome = "failed"
            by_id[f.scheduled_event_id].ended_at = at
        elif et == EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
            t = e.activity_task_timed_out_event_attributes
            by_id[t.scheduled_event_id].outcome = "timed_out"
            by_id[t.scheduled_event_id].ended_at = at
        elif et == EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED:
            c2 = e.activity_task_canceled_event_attributes
            by_id[c2.scheduled_event_id].outcome = "canceled"
            by_id[c2.scheduled_event_id].ended_at = at
    return list(by_id.values())


def platform_writes(cs: list[Call]) -> list[Call]:
    return [c for c in cs if c.name in PLATFORM_WRITES]


def assert_no_step_twice(cs: list[Call]) -> Counter[str]:
    """No platform write was scheduled twice or completed twice for the same step."""
    writes = platform_writes(cs)
    scheduled = Counter(c.key for c in writes)
    completed = Counter(c.key for c in writes if c.outcome == "completed")
    # A corrective call (rollback/undo) may be scheduled again at a higher escalation
    # level after a level failed, but it may complete only once.
    twice = {k: n for k, n in scheduled.items() if n > 1 and not k.startswith(("rollback", "undo"))}
    assert not twice, f"platform steps scheduled twice: {twice}\n{describe(cs)}"
    done_twice = {k: n for k, n in completed.items() if n > 1}
    assert not done_twice, f"platform steps completed twice: {done_twice}\n{describe(cs)}"
    return completed


def describe(cs: list[Call]) -> str:
    return "\n".join(f"  {c.key:40} attempt {c.attempt} {c.outcome}" for c in cs)


def attempts_beyond_first(cs: list[Call]) -> dict[str, int]:
    return {c.key: c.attempt for c in cs if c.attempt > 1}


def figures(name: str, **values: object) -> None:
    """The case's numbers, printed for `pytest -s` and the closing note."""
    text = ", ".join(f"{k}={v}" for k, v in values.items())
    print(f"\n[chaos] {name}: {text}", flush=True)


async def running_activity(handle: WorkflowHandle[Any, Any], name: str) -> bool:
    """True while a worker runs activity `name` for this promotion (pending, started)."""
    desc = await handle.describe()
    return any(
        a.activity_type.name == name
        and a.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
        for a in desc.raw_description.pending_activities
    )


def errors_near(load: Load, cs: list[Call]) -> dict[str, list[float]]:
    """Seconds from this promotion's staging deploy and production promote being
    scheduled to each sample at which the load's error count grew (stats lag <= 1 s)."""
    out: dict[str, list[float]] = {}
    for label, prefix in (("staging_deploy", "deploy staging"), ("promote", "promote production")):
        call = next((c for c in cs if c.key.startswith(prefix)), None)
        if call is not None:
            out[label] = [round(t - call.scheduled_at, 2) for t in load.error_times()]
    return out
