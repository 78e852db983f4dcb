"""Workers are stateless: two `python -m workers.main` processes (the image's entrypoint)
poll one task queue; the one doing the work is killed (SIGKILL) mid-canary and the
promotion finishes on the other. Real local stack: Temporal dev server, HAProxy,
Prometheus, the demo service under load.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from temporalio.client import Client

from rollway import TASK_QUEUE, stack
from rollway.home import free_port
from rollway.models import Outcome
from tests.support.binaries import ROOT, require_binary
from tests.support.local_stack import (
    PRODUCTION,
    LocalStack,
    approve_when_asked,
    fast_pipeline,
    finish,
    load,
    platform,
    promote,
)
from workers.main import connect
from workflows.promotion import PromotionWorkflow


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    require_binary("haproxy", "apt-get install -y haproxy (./dev installs it)")
    require_binary("prometheus", "apt-get install -y prometheus (./dev installs it)")
    path = tmp_path_factory.mktemp("rollway-failover")
    old = os.environ.get("ROLLWAY_HOME")
    os.environ["ROLLWAY_HOME"] = str(path)
    try:
        stack.up(path, worker=False)
        yield path
    finally:
        stack.down(path)
        if old is None:
            os.environ.pop("ROLLWAY_HOME", None)
        else:
            os.environ["ROLLWAY_HOME"] = old


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
            return bool(r.status == 200)
    except (urllib.error.URLError, OSError):
        return False


class Worker:
    def __init__(self, home: Path, address: str) -> None:
        self.port = free_port()
        env = dict(os.environ) | {
            "ROLLWAY_HOME": str(home),
            "ROLLWAY_TEMPORAL_ADDRESS": address,
            "ROLLWAY_WORKER_METRICS_PORT": str(self.port),
            # The test's own pipeline travels inline: a development worker, as `rollway up`'s.
            "ROLLWAY_DEV_INLINE_PIPELINES": "1",
        }
        env.pop("ROLLWAY_PROMETHEUS_URL", None)
        self.log = (home / f"worker-{self.port}.log").open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "workers.main"],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    @property
    def identity_prefix(self) -> str:
        return f"{self.proc.pid}@"

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"worker exited: {self.log.name}"
            if ready(self.port):
                return
            time.sleep(0.3)
        raise AssertionError(f"worker on :{self.port} never polled; see {self.log.name}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()
        return self.proc.returncode


@pytest.fixture(scope="module")
async def two_workers(home: Path) -> AsyncIterator[tuple[LocalStack, list[Worker]]]:
    address = stack.temporal_address(home)
    assert address
    workers = [Worker(home, address), Worker(home, address)]
    try:
        for w in workers:
            await asyncio.to_thread(w.wait_ready)
        client: Client = await connect(address)
        yield LocalStack(home=home, client=client, task_queue=TASK_QUEUE), workers
    finally:
        for w in workers:
            w.stop()


def identities(events: list[object]) -> list[tuple[int, str]]:
    """(event id, worker identity) of every task a worker completed or started."""
    out = []
    for e in events:
        for attr in (
            "workflow_task_completed_event_attributes",
            "activity_task_started_event_attributes",
            "activity_task_completed_event_attributes",
        ):
            if e.HasField(attr):  # type: ignore[attr-defined]
                identity = getattr(e, attr).identity
                if identity:
                    out.append((e.event_id, identity))  # type: ignore[attr-defined]
    return out


async def test_promotion_finishes_on_the_surviving_worker(
    two_workers: tuple[LocalStack, list[Worker]],
) -> None:
    local, workers = two_workers
    spec = fast_pipeline()
    first = await promote(local, "v1", spec)
    await approve_when_asked(local.client, first)
    assert (await finish(first)).outcome == Outcome.PROMOTED

    url = platform(local, spec).status(PRODUCTION).frontend_url
    assert url is not None
    async with load(url, local.home / "load-failover.json"):
        h = await promote(local, "v2", spec)
        await approve_when_asked(local.client, h)
        deadline = time.monotonic() + 180
        while True:  # until traffic reaches the canary
            state = await h.query(PromotionWorkflow.query_state)
            if state.stage.value == "canary" and state.canary and state.canary.weight > 0:
                break
            assert state.outcome == Outcome.RUNNING, state.reason
            assert time.monotonic() < deadline, f"the canary never started: {state.stage}"
            await asyncio.sleep(0.1)

        history = await h.fetch_history()
        last_id, last_identity = identities(list(history.events))[-1]
        busy = next(w for w in workers if last_identity.startswith(w.identity_prefix))
        survivor = next(w for w in workers if w is not busy)
        busy.proc.send_signal(signal.SIGKILL)
        busy.proc.wait(10)

        result = await finish(h, timeout=240)

    assert result.outcome == Outcome.PROMOTED, result.reason
    status = platform(local, spec).status(PRODUCTION)
    assert status.stable is not None and status.stable.version == "v2"
    after = [i for eid, i in identities(list((await h.fetch_history()).events)) if eid > last_id]
    assert after, "no task ran after the kill"
    assert all(i.startswith(survivor.identity_prefix) for i in after), after
    # The survivor still stops gracefully on SIGTERM, as Kubernetes and Docker stop it.
    assert survivor.stop() == 0
