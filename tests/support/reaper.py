"""Whatever a test run starts is stopped when the run ends, however it ends.

Fixtures register what they start: a process group (`group`), a single process
(`process`: pid and kernel start time, so a recycled pid is never hit) or a
`rollway up` home (`home`: its whole stack, stopped with `rollway.stack.down`).
Registrations go to a watchdog process (`python -m tests.support.reaper`, in a
session of its own so Ctrl-C does not reach it) over a pipe. When the pipe
closes, whether pytest exited normally, crashed, timed out or was SIGKILLed, the
watchdog stops whatever is still registered: SIGTERM, a bounded wait, SIGKILL.
Fixtures that stop their own parts first call `forget`.

`reap_now()` does the same in-process; tests/conftest.py runs it at session
end and from `atexit`, so a normal exit does not depend on the watchdog.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GRACE_S = 5.0

_watchdog: subprocess.Popen[str] | None = None
_registered: set[str] = set()


def start_ticks(pid: int) -> int | None:
    """The kernel's start time of `pid` (None if gone or a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] == "Z" else int(fields[19])


def children(pid: int | None = None) -> list[int]:
    """Direct children of `pid` (default: this process)."""
    parent = os.getpid() if pid is None else pid
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                found.append(int(entry.name))
    return found


def _send(line: str) -> None:
    global _watchdog
    if _watchdog is None or _watchdog.poll() is not None:
        _watchdog = subprocess.Popen(
            [sys.executable, "-m", "tests.support.reaper"],
            stdin=subprocess.PIPE,
            cwd=ROOT,
            text=True,
            start_new_session=True,
        )
        for old in sorted(_registered):  # a restarted watchdog learns everything again
            assert _watchdog.stdin is not None
            _watchdog.stdin.write(old + "\n")
    assert _watchdog.stdin is not None
    _watchdog.stdin.write(line + "\n")
    _watchdog.stdin.flush()


def _register(line: str) -> str:
    _registered.add(line)
    _send(line)
    return line


def group(pgid: int) -> str:
    """Register a process group (a child started with `start_new_session=True`)."""
    return _register(f"group {pgid} {start_ticks(pgid) or 0}")


def process(pid: int) -> str:
    """Register one process by pid and start time."""
    return _register(f"process {pid} {start_ticks(pid) or 0}")


def home(path: Path) -> str:
    """Register a `rollway up` home: its stack is stopped with `stack.down`."""
    return _register(f"home {path}")


def forget(line: str) -> None:
    """The fixture stopped it itself."""
    if line in _registered:
        _registered.discard(line)
        _send(f"forget {line}")


def _alive(pid: int, ticks: int) -> bool:
    now = start_ticks(pid)
    return now is not None and (ticks == 0 or now == ticks)


def _stop(kind: str, pid: int, ticks: int) -> None:
    kill = os.killpg if kind == "group" else os.kill
    for sig, wait in ((signal.SIGTERM, GRACE_S), (signal.SIGKILL, 2.0)):
        if not _alive(pid, ticks):
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and _alive(pid, ticks):
            time.sleep(0.05)


def reap(lines: set[str]) -> None:
    """Stop everything `lines` registered: processes first, then stacks."""
    for line in sorted(lines, key=lambda entry: entry.startswith("home ")):
        kind, _, rest = line.partition(" ")
        try:
            if kind in ("group", "process"):
                pid, ticks = (int(x) for x in rest.split())
                _stop(kind, pid, ticks)
            elif kind == "home":
                from rollway import stack

                stack.down(Path(rest))
        except Exception as e:  # keep going: one failure must not leave the rest running
            print(f"reaper: could not stop {line}: {e}", file=sys.stderr)


def reap_now() -> None:
    """Stop what is still registered, in this process; then let the watchdog go."""
    global _watchdog
    reap(set(_registered))
    _registered.clear()
    if _watchdog is not None:
        with contextlib.suppress(OSError, ValueError):
            assert _watchdog.stdin is not None
            _watchdog.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            _watchdog.wait(10)
        _watchdog = None


def _watch() -> None:
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    lines: set[str] = set()
    for raw in sys.stdin:
        line = raw.rstrip("\n")
        if line.startswith("forget "):
            lines.discard(line.removeprefix("forget "))
        elif line:
            lines.add(line)
    reap(lines)


if __name__ == "__main__":
    _watch()
