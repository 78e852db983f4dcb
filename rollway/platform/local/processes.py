"""Start and stop service versions as detached OS processes.

A version must outlive the worker that started it (killing the worker must
leave traffic flowing), so it is started in its own session through a short-
lived intermediate process: the worker never becomes its parent and never has
to reap it. Identity is pid plus the kernel's start time, so a recycled pid is
never mistaken for our process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pydantic import BaseModel

_SPAWN = """
import json, os, subprocess, sys
os.umask(0o077)
a = json.loads(sys.argv[1])
log = open(a["log"], "ab")
p = subprocess.Popen(a["argv"], cwd=a["cwd"], env=a["env"], stdin=subprocess.DEVNULL,
                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
print(p.pid)
"""


class ProcessRef(BaseModel):
    """A process we started: enough to find it again after any restart."""

    pid: int
    start_ticks: int
    log: str


def _start_ticks(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":  # zombie: exited, not yet reaped
        return None
    return int(fields[19])


def spawn(argv: list[str], *, cwd: str, env: dict[str, str], log: Path) -> ProcessRef:
    """Start `argv` detached (new session, not our child); output goes to `log`.

    The process runs with umask 077: what it creates (Temporal's SQLite history,
    logs, sockets) is readable by this user only; the local stack is single-user.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    args = json.dumps({"argv": argv, "cwd": cwd, "env": env, "log": str(log)})
    out = subprocess.run(
        [sys.executable, "-c", _SPAWN, args], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise OSError(f"could not start {argv[0]}: {out.stderr.strip().splitlines()[-1:]}")
    pid = int(out.stdout.strip())
    ticks = _start_ticks(pid)
    return ProcessRef(pid=pid, start_ticks=ticks or 0, log=str(log))


def alive(ref: ProcessRef | None) -> bool:
    if ref is None:
        return False
    ticks = _start_ticks(ref.pid)
    return ticks is not None and (ref.start_ticks == 0 or ticks == ref.start_ticks)


def stop(ref: ProcessRef | None, grace_s: float = 5.0) -> None:
    """SIGTERM the process group, then SIGKILL after `grace_s`. Safe if already gone."""
    if ref is None or not alive(ref):
        return
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 2.0)):
        try:
            os.killpg(ref.pid, sig)
        except ProcessLookupError:
            return
        except PermissionError:
            os.kill(ref.pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not alive(ref):
                return
            time.sleep(0.05)


def log_tail(path: str | Path, lines: int = 20) -> str:
    """The last `lines` lines of a log file ('' if it does not exist)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 16384))
            text = f.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
