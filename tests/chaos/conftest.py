"""A fresh real stack per chaos case: no server, clock or lock shared between cases.

Each case gets its own `$ROLLWAY_HOME` with a Temporal dev server, Prometheus and
HAProxy started by `rollway.stack.up`, the real worker, and v1 serving 100 % of
production. Two fixtures differ only in where the worker runs:

- `chaos_process`: the real worker (`python -m workers.main`, as `rollway up` runs
  it, HAProxy supervisor included) as a separate OS process group, for the cases
  that kill the worker or rely on what its process does;
- `chaos`: the same worker (`build_worker`, real activities) inside this process,
  with the same HAProxy supervisor thread, because starting a worker process costs
  20-50 s on a loaded 2-core box (see the report: most of it is importing scipy).

Teardown kills worker and load process groups with SIGKILL and stops the stack
(bounded waits: it cannot hang on a dead server).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from rollway import stack
from rollway.platform.local.supervisor import HAProxySupervisor
from tests.support import chaos as harness
from tests.support.binaries import require_binary
from tests.support.chaos import ChaosStack
from tests.support.fake_world import DEV_CATALOG
from workers.main import build_worker, connect

# v2: good. v3: 10 % errors (releases/v3.json). v7: good, a second candidate.
VERSIONS = ["v1", "v2", "v3", "v7"]


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every version the cases promote, built once by the demo's real build script."""
    return harness.build_artifacts(tmp_path_factory.mktemp("chaos-artifacts"), VERSIONS)


@contextlib.asynccontextmanager
async def _stack(home: Path, artifacts: Path, worker_process: bool) -> AsyncIterator[ChaosStack]:
    require_binary("haproxy", "apt-get install -y haproxy (./dev installs it)")
    require_binary("prometheus", "apt-get install -y prometheus (./dev installs it)")
    old = os.environ.get("ROLLWAY_HOME")
    cs: ChaosStack | None = None
    try:
        async with contextlib.AsyncExitStack() as inner:
            t0 = time.monotonic()
            up = asyncio.create_task(asyncio.to_thread(harness.start_stack, home))
            # A worker process takes seconds to import: start it as soon as Temporal
            # listens, while Prometheus and HAProxy are still starting.
            while (addr := stack.temporal_address(home)) is None and not up.done():
                await asyncio.sleep(0.1)
            if addr is None:
                await up  # raises why the stack did not start
            assert addr is not None
            cs = ChaosStack(home=home, client=await connect(addr))
            if worker_process:
                worker_s = await cs.start_worker()
                await up
            else:
                await up
                executor = inner.enter_context(ThreadPoolExecutor(max_workers=64))
                await inner.enter_async_context(
                    build_worker(cs.client, executor, catalog=DEV_CATALOG)
                )
                supervisor = HAProxySupervisor(home)
                supervisor.start()
                inner.callback(supervisor.stop)
                worker_s = 0.0
            harness.seed_stable(home, harness.chaos_pipeline(artifacts, [(20, 1)]), artifacts)
            harness.figures(
                "stack",
                ready_s=round(time.monotonic() - t0, 1),
                worker_process_polling_s=round(worker_s, 1) if worker_process else "in-process",
            )
            yield cs
    finally:
        if cs is not None:
            cs.close()
        harness.stop_stack(home)
        if old is None:
            os.environ.pop("ROLLWAY_HOME", None)
        else:
            os.environ["ROLLWAY_HOME"] = old


@pytest.fixture
async def chaos(tmp_path: Path, artifacts: Path) -> AsyncIterator[ChaosStack]:
    """The stack with the real worker running in this process."""
    async with _stack(tmp_path / "home", artifacts, worker_process=False) as cs:
        yield cs


@pytest.fixture
async def chaos_process(tmp_path: Path, artifacts: Path) -> AsyncIterator[ChaosStack]:
    """The stack with the real worker as its own OS process group."""
    async with _stack(tmp_path / "home", artifacts, worker_process=True) as cs:
        yield cs
