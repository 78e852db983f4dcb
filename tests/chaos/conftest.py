"""A fresh real stack per chaos case: no server, clock or lock shared between cases.

Each case gets its own `$ROLLWAY_HOME` with a Temporal dev server, Prometheus and
HAProxy started by `rollway.stack.up`, the real worker as a separate process group,
and v1 serving 100 % of production. Teardown kills the worker and load groups with
SIGKILL and stops the stack (bounded waits: it cannot hang on a dead server).
"""

from __future__ import annotations

import os
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
        harness.start_stack(home)
        addr = harness.stack.temporal_address(home)
        cs = ChaosStack(home=home, client=await connect(addr))
        await cs.start_worker()
        harness.seed_stable(home, harness.chaos_pipeline(artifacts, [(20, 1)]), artifacts)
        yield cs
    finally:
        if cs is not None:
            cs.close()
        harness.stop_stack(home)
        if old is None:
            os.environ.pop("ROLLWAY_HOME", None)
        else:
            os.environ["ROLLWAY_HOME"] = old
