"""The demo load generator stops when asked, even when the front door hangs."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import pytest

from tests.support.binaries import ROOT

TICKS = os.sysconf("SC_CLK_TCK")


@pytest.fixture
def hanging_door() -> Iterator[str]:
    """A listener that completes handshakes but never answers a request."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(4096)
    try:
        yield f"http://127.0.0.1:{s.getsockname()[1]}/"
    finally:
        s.close()


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def test_load_generator_exits_promptly_on_sigterm_and_idles_on_a_hanging_door(
    hanging_door: str, tmp_path: Path
) -> None:
    stats = tmp_path / "stats.json"
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "examples" / "demo" / "loadgen.py"),
            hanging_door,
            "--rps",
            "150",
            "--stats",
            str(stats),
        ],
        start_new_session=True,
        stdout=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while not (stats.exists() and json.loads(stats.read_text()).get("sent", 0) > 0):
            assert proc.poll() is None, "the load generator exited"
            assert time.monotonic() < deadline, "the load generator sent nothing in 30 s"
            time.sleep(0.1)
        cpu0, t0 = _cpu_seconds(proc.pid), time.monotonic()
        time.sleep(5)
        cpu = (_cpu_seconds(proc.pid) - cpu0) / (time.monotonic() - t0)
        sent = json.loads(stats.read_text())
        os.kill(proc.pid, signal.SIGTERM)
        asked = time.monotonic()
        try:
            # A bound for a slow machine: one that ignores SIGTERM never exits.
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            raise AssertionError("the load generator ignored SIGTERM for 60 s") from None
        took = time.monotonic() - asked
    finally:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)
    print(f"\nloadgen on a hanging door: {cpu:.0%} of a core; exited {took:.1f}s after SIGTERM")
    assert proc.returncode == 0
    assert sent.get("not_sent_backlog", 0) > 0, "requests due beyond the cap are counted"
    assert cpu < 0.5, f"the load generator took {cpu:.0%} of a core waiting on a hung door"
    final = json.loads(proc.stdout.read() if proc.stdout else "{}")
    assert final["sent"] >= sent["sent"], "it printed its final counts"
