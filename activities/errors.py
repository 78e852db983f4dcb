"""Turn adapter errors into Temporal errors with the right retry behaviour."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from temporalio import activity
from temporalio.exceptions import ApplicationError

from rollway.platform.base import PlatformError

HEARTBEAT_EVERY_S = 5.0


@contextmanager
def platform_errors() -> Iterator[None]:
    """`PlatformError(retryable=False)` becomes a non-retryable `ApplicationError`.

    While the call runs, the activity heartbeats, so a worker that dies mid-call is
    noticed within the heartbeat timeout instead of the whole start-to-close timeout.
    """
    try:
        with heartbeating():
            yield
    except PlatformError as e:
        raise ApplicationError(str(e), type="PlatformError", non_retryable=not e.retryable) from e


@contextmanager
def heartbeating(every_s: float = HEARTBEAT_EVERY_S) -> Iterator[None]:
    """Heartbeat from a helper thread (in the activity's context) until the block ends."""
    if not activity.in_activity():
        yield
        return
    context = contextvars.copy_context()
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every_s):
            context.run(activity.heartbeat, "working")

    thread = threading.Thread(target=beat, name="rollway-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=every_s)
