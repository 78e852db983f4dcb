"""The real local stack for integration tests: `rollway up` in a temporary home.

Temporal dev server, Prometheus and HAProxy are started by `rollway.stack.up`
(the same code `rollway up` runs); the worker runs in-process with the real
activities so a failure shows its traceback here.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.client import Client

from rollway import stack
from tests.conftest import require_binary
from workers.main import build_worker, connect


@dataclass
class LocalStack:
    home: Path
    client: Client
    task_queue: str


@pytest.fixture(scope="session")
def stack_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    require_binary("haproxy", "apt-get install -y haproxy (./dev installs it)")
    require_binary("prometheus", "apt-get install -y prometheus (./dev installs it)")
    home = tmp_path_factory.mktemp("rollway-home")
    old = os.environ.get("ROLLWAY_HOME")
    os.environ["ROLLWAY_HOME"] = str(home)
    os.environ.pop("ROLLWAY_PROMETHEUS_URL", None)
    try:
        stack.up(home, worker=False)
        yield home
    finally:
        stack.down(home)
        if old is None:
            os.environ.pop("ROLLWAY_HOME", None)
        else:
            os.environ["ROLLWAY_HOME"] = old


@pytest.fixture(scope="session")
async def local_stack(stack_home: Path) -> AsyncIterator[LocalStack]:
    client = await connect(stack.temporal_address(stack_home))
    queue = f"rollway-it-{uuid.uuid4()}"
    with ThreadPoolExecutor(max_workers=64) as executor:
        async with build_worker(client, executor, task_queue=queue):
            yield LocalStack(home=stack_home, client=client, task_queue=queue)
