"""Run a build command into an artifact folder, idempotently.

The build writes into a fresh temporary folder that is renamed into place
only on success, with a marker naming the commit: a retried build finds the
finished artifact and reuses it, and a half-finished one is never used.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from rollway.platform.local.processes import log_tail

MARKER = ".rollway-build.json"


class BuildFailed(Exception):
    """The build command failed; the message carries the exit code and log tail."""


def artifact_dir(root: Path, service: str, version: str, commit: str) -> Path:
    return root / "artifacts" / service / f"{version}-{commit[:12]}"


def run_build(
    *,
    command: list[str],
    workdir: Path,
    out: Path,
    env: dict[str, str],
    timeout_s: float,
    progress: Callable[[str], None],
    cancelled: Callable[[], bool] = lambda: False,
) -> tuple[bool, str]:
    """Build into `out`; returns (reused, log tail). Raises `BuildFailed`."""
    marker = out / MARKER
    identity = {"command": command, "commit": env.get("COMMIT"), "version": env.get("VERSION")}
    if marker.exists() and json.loads(marker.read_text()) == identity:
        return True, "reused the artifact of an earlier, finished build of this commit"
    if not workdir.is_dir():
        raise BuildFailed(f"build.workdir {workdir} does not exist")
    tmp = out.with_name(out.name + f".tmp-{os.getpid()}-{time.monotonic_ns()}")
    tmp.mkdir(parents=True)
    log = out.with_name(out.name + ".build.log")
    # The worker's interpreter first on PATH: build scripts run `python -m …` with our packages.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    full_env = dict(os.environ) | env | {"ARTIFACT_DIR": str(tmp), "PATH": path}
    with open(log, "wb") as logf:
        try:
            proc = subprocess.Popen(
                command,
                cwd=workdir,
                env=full_env,
                stdout=logf,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as e:
            raise BuildFailed(f"could not run {command[0]!r} in {workdir}: {e}") from e
        deadline = time.monotonic() + timeout_s
        while proc.poll() is None:
            if cancelled() or time.monotonic() > deadline:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                why = "cancelled" if cancelled() else f"timed out after {timeout_s:.0f}s"
                raise BuildFailed(f"build {why}; log tail:\n{log_tail(log)}")
            progress(log_tail(log, 1) or "building")
            time.sleep(0.5)
    tail = log_tail(log, 30)
    if proc.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise BuildFailed(f"build exited with code {proc.returncode}; log tail:\n{tail}")
    (tmp / MARKER).write_text(json.dumps(identity))
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return False, tail
