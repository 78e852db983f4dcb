"""The suite's plugins and its clean-up guarantee.

Fixtures shared by several folders live in tests/support/ and are registered
here; a folder's own conftest imports only what that folder alone uses.
Whatever the run starts is stopped when it ends: fixtures stop their parts,
then the session end and `atexit` stop anything still registered with the
reaper, and the reaper's watchdog does it if this process dies (timeout, SIGKILL).
SIGTERM becomes a KeyboardInterrupt so pytest tears its fixtures down.
"""

from __future__ import annotations

import atexit
import signal
from types import FrameType

import pytest

from tests.support import reaper

pytest_plugins = [
    "tests.support.temporal_servers",
    "tests.support.aws.fixtures",
    "tests.support.timeouts",
]


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config: pytest.Config) -> None:
    atexit.register(reaper.reap_now)
    signal.signal(signal.SIGTERM, _interrupt)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    reaper.reap_now()
