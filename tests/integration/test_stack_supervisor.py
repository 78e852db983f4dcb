"""HAProxy supervision on its own: a real HAProxy, SIGKILLed, restarted from the platform state."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from rollway.home import free_port, write_json
from rollway.platform.local.haproxy import HAProxy
from rollway.platform.local.supervisor import HAProxySupervisor, backends, restore_haproxy
from tests.conftest import require_binary


@pytest.fixture
def haproxy(tmp_path: Path) -> Iterator[HAProxy]:
    """HAProxy serving one target whose state file names a (stopped) server at weight 40."""
    require_binary("haproxy", "apt-get install -y haproxy (./dev installs it)")
    state = {
        "frontend_port": free_port(),
        "stable": {
            "version": "v1",
            "artifact": str(tmp_path),
            "port": free_port(),
            "weight": 40,
            "process": {"pid": 1, "start_ticks": 1, "log": str(tmp_path / "v1.log")},
            "argv": ["true"],
        },
    }
    write_json(tmp_path / "platform" / "svc.production.json", state)
    h = HAProxy(tmp_path)
    h.start_or_reload(backends(tmp_path))
    try:
        yield h
    finally:
        h.stop()


def _until(check: Callable[[], bool], within: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < within:
        if check():
            return time.monotonic() - start
        time.sleep(0.02)
    raise AssertionError(f"not within {within}s")


def test_supervisor_restarts_a_killed_master_with_the_state_weights(haproxy: HAProxy) -> None:
    home = haproxy.dir.parent
    master = haproxy.master_pid()
    assert master is not None
    assert haproxy.weights("svc.production") == {"v1": 40}
    sup = HAProxySupervisor(home)
    sup.start()
    try:
        os.kill(master, signal.SIGKILL)
        took = _until(lambda: haproxy.master_pid() not in (None, master) and haproxy.running(), 10)
    finally:
        sup.stop()
    print(f"\nHAProxy master SIGKILLed: supervisor had a new master serving in {took:.2f}s")
    assert sup.restarts == 1
    assert haproxy.weights("svc.production") == {"v1": 40}
    port = backends(home)[0].port
    # The frontend answers again (503: its only server is not running).
    assert httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 503


def test_haproxy_stopped_on_purpose_stays_stopped(haproxy: HAProxy) -> None:
    home = haproxy.dir.parent
    sup = HAProxySupervisor(home, interval=0.05)
    sup.start()
    try:
        haproxy.stop()
        time.sleep(1.0)
        assert haproxy.master_pid() is None and not haproxy.running()
        assert sup.restarts == 0
        assert restore_haproxy(home) is False
    finally:
        sup.stop()


def test_a_running_haproxy_is_left_alone(haproxy: HAProxy) -> None:
    master = haproxy.master_pid()
    assert restore_haproxy(haproxy.dir.parent) is False
    assert haproxy.master_pid() == master
