"""The suite's own guarantees: a hung test fails cleanly, and nothing a run starts outlives it.

Each case runs a small pytest session in a subprocess, the way a CI run goes wrong:
a test that hangs in the event loop, a run SIGKILLed by an outer timeout, a load
generator told to stop while its front door has stalled.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import reaper
from tests.support.binaries import ROOT

INI = """\
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = session
asyncio_default_test_loop_scope = session
timeout = 300
timeout_method = thread
"""


def inner_pytest(folder: Path, *args: str) -> subprocess.Popen[str]:
    """`pytest` in `folder` (its own ini), with the repository importable."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def wait_gone(pid: int, ticks: int | None, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        now = reaper.start_ticks(pid)
        if now is None or now != ticks:
            return True
        time.sleep(0.1)
    return False


def test_a_hung_async_test_fails_with_its_budget_and_tears_down(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text(INI)
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["tests.support.timeouts"]\n')
    (tmp_path / "test_hang.py").write_text(
        "import asyncio\n"
        "from pathlib import Path\n"
        "import pytest\n\n"
        "@pytest.fixture\n"
        "async def resource():\n"
        "    yield\n"
        "    Path('torn-down').write_text('yes')\n\n"
        "@pytest.mark.timeout(2)\n"
        "async def test_hangs(resource):\n"
        "    await asyncio.sleep(3600)\n\n"
        "async def test_after_it_still_runs():\n"
        "    await asyncio.sleep(0)\n"
    )
    started = time.monotonic()
    proc = inner_pytest(tmp_path)
    out, _ = proc.communicate(timeout=120)
    assert time.monotonic() - started < 60, out
    assert "INTERNALERROR" not in out, out
    assert "1 failed, 1 passed" in out, out
    assert "test_hangs did not finish within 2s (asyncio timeout)" in out, out
    assert "await asyncio.sleep(3600)" in out, "the failure shows where the test waited"
    assert (tmp_path / "torn-down").read_text() == "yes", "fixtures tear down as usual"


def test_what_a_killed_run_started_is_stopped(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text(INI)
    (tmp_path / "test_starts.py").write_text(
        "import subprocess, time\n"
        "from pathlib import Path\n"
        "from tests.support import reaper\n\n"
        "def test_starts_a_process_then_hangs():\n"
        "    p = subprocess.Popen(['sleep', '600'], start_new_session=True)\n"
        "    reaper.group(p.pid)\n"
        "    Path('child.pid').write_text(str(p.pid))\n"
        "    time.sleep(600)\n"
    )
    proc = inner_pytest(tmp_path)
    pid_file = tmp_path / "child.pid"
    try:
        deadline = time.monotonic() + 60
        while not pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert pid_file.exists(), "the inner run never started its process"
        child = int(pid_file.read_text())
        ticks = reaper.start_ticks(child)
        assert ticks is not None
        os.killpg(proc.pid, signal.SIGKILL)  # as an outer timeout would: no finalizer runs
        proc.wait(10)
        assert wait_gone(child, ticks, within=15), "the watchdog did not stop the process"
    finally:
        with_pid = pid_file.read_text() if pid_file.exists() else ""
        if with_pid and reaper.start_ticks(int(with_pid)) is not None:
            os.kill(int(with_pid), signal.SIGKILL)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


@pytest.fixture
def stalled_front_door() -> tuple[str, socket.socket]:
    """A port that accepts no connection (its backlog fills): requests hang."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    return f"http://127.0.0.1:{sock.getsockname()[1]}/", sock


def test_the_load_generator_exits_on_sigterm_even_when_stalled(
    tmp_path: Path, stalled_front_door: tuple[str, socket.socket]
) -> None:
    url, sock = stalled_front_door
    stats = tmp_path / "stats.json"
    loadgen = str(ROOT / "examples" / "demo" / "loadgen.py")
    argv = [sys.executable, loadgen, url, "--rps", "150", "--stats", str(stats)]
    proc = subprocess.Popen(argv, start_new_session=True)
    try:
        time.sleep(6)  # long enough for the requests in flight to pile up
        assert proc.poll() is None, "it runs until told to stop"
        proc.terminate()
        # One that ignores SIGTERM never exits; the bound only keeps a slow machine from failing.
        proc.wait(60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        sock.close()
    assert stats.exists() and '"not_sent_backlog"' in stats.read_text()
