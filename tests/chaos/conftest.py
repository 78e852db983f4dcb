"""A fresh real stack per chaos case: no server, clock or lock shared between cases.

Each case gets its own `$ROLLWAY_HOME` with a Temporal dev server, Prometheus and
HAProxy started by `rollway.stack.up`, the real worker as a separate process group,
and v1 serving 100 % of production. Teardown kills the worker and load groups with
SIGKILL and stops the stack (bounded waits: it cannot hang on a dead server).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.chaos import harness
from tests.chaos.harness import ChaosStack
from tests.conftest import require_binary
from workers.main import connect

# v2: good. v3: 10 % errors (releases/v3.json). v7: good, a second candidate.
VERSIONS = ["v1", "v2", "v3", "v7"]


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every version the cases promote, built once by the demo's real build script."""
    return harness.build_artifacts(tmp_path_factory.mktemp("chaos-artifacts"), VERSIONS)


@pytest.fixture
async def chaos(tmp_path: Path, artifacts: Path) -> AsyncIterator[ChaosStack]:
    require_binary("haproxy", "apt-get install -y haproxy (./dev installs it)")
    require_binary("prometheus", "apt-get install -y prometheus (./dev installs it)")
    home = tmp_path / "home"
    old = os.environ.get("ROLLWAY_HOME")
    cs: ChaosStack | None = None
    try:
        t0 = time.monotonic()
        up = asyncio.create_task(asyncio.to_thread(harness.start_stack, home))
        # The worker takes seconds to import: start it as soon as Temporal listens,
        # while Prometheus and HAProxy are still starting.
        while (addr := harness.stack.temporal_address(home)) is None and not up.done():
            await asyncio.sleep(0.1)
        if addr is None:
            await up  # raises why the stack did not start
        assert addr is not None
        cs = ChaosStack(home=home, client=await connect(addr))
        worker_s = await cs.start_worker()
        await up
        harness.seed_stable(home, harness.chaos_pipeline(artifacts, [(20, 1)]), artifacts)
        harness.figures(
            "stack", ready_s=round(time.monotonic() - t0, 1), worker_polling_s=round(worker_s, 1)
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
