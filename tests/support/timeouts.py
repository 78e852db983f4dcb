"""A hung test fails cleanly: an asyncio timeout inside the test, a hard stop outside.

pytest-timeout's signal method raises from a SIGALRM handler wherever the main
thread is, which for an async test is deep inside the event loop (once it ended
in pytest's INTERNALERROR and a process retrying a stopped server). So:

- every `async def` test runs under `asyncio.timeout(budget)`: on expiry the test
  is cancelled where it awaits, its `finally` blocks and fixtures tear down as
  usual, and it fails with the budget and the await it was stuck in;
- pytest-timeout stays as the backstop for what asyncio cannot interrupt (a
  blocking call, a teardown that hangs): `timeout_method = "thread"` in
  pyproject.toml, set to the budget plus `BACKSTOP_MARGIN_S`. It dumps every
  thread's stack and ends the process; the reaper then stops what the run started;
- a sync test with no async fixture never enters the loop: it keeps the signal
  method, which fails just that test.

The budget is the test's `@pytest.mark.timeout(seconds)` or the `timeout` ini value.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

BACKSTOP_MARGIN_S = 60.0


def budget(item: pytest.Item) -> float:
    marker = item.get_closest_marker("timeout")
    if marker is not None and marker.args:
        return float(marker.args[0])
    if marker is not None and "timeout" in marker.kwargs:
        return float(marker.kwargs["timeout"])
    return float(item.config.getini("timeout") or 0)


def with_timeout(
    test: Callable[..., Coroutine[Any, Any, Any]], seconds: float, name: str
) -> Callable[..., Coroutine[Any, Any, Any]]:
    @functools.wraps(test)
    async def bounded(*args: Any, **kwargs: Any) -> Any:
        deadline = asyncio.timeout(seconds)
        try:
            async with deadline:
                return await test(*args, **kwargs)
        except TimeoutError:
            if deadline.expired():
                pytest.fail(
                    f"{name} did not finish within {seconds:.0f}s (asyncio timeout); "
                    "the traceback above shows the await it was stuck in",
                    pytrace=True,
                )
            raise

    return bounded


def uses_the_event_loop(item: pytest.Function) -> bool:
    """An async test, or a test with an async fixture (its setup runs in the loop)."""
    if inspect.iscoroutinefunction(item.obj):
        return True
    return any(
        inspect.iscoroutinefunction(d.func) or inspect.isasyncgenfunction(d.func)
        for defs in item._fixtureinfo.name2fixturedefs.values()
        for d in defs
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if not isinstance(item, pytest.Function):
            continue
        seconds = budget(item)
        if seconds <= 0:
            continue
        if not uses_the_event_loop(item):
            # Plain sync code: the signal method fails just this test, cleanly.
            item.add_marker(pytest.mark.timeout(seconds, method="signal"), append=False)
            continue
        if inspect.iscoroutinefunction(item.obj):
            item.obj = with_timeout(item.obj, seconds, item.name)
        item.add_marker(pytest.mark.timeout(seconds + BACKSTOP_MARGIN_S), append=False)
