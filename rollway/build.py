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
from rollway.security.inputs import check_commit, check_name, check_version, contained_path
from rollway.security.redact import Redactor, child_env, secret_values

MARKER = ".rollway-build.json"


class BuildFailed(Exception):
    """The build command failed; the message carries the exit code and log tail."""


def artifact_dir(root: Path, service: str, version: str, commit: str) -> Path:
    """`root/artifacts/<service>/<version>-<commit[:12]>`; hostile names raise `InputError`."""
    check_name(service, "service")
    check_version(version, "version")
    check_commit(commit, "commit")
    return contained_path(root, "artifacts", service, f"{version}-{commit[:12]}", field="artifact")


def run_build(
    *,
    command: list[str],
    workdir: Path,
    out: Path,
    env: dict[str, str],
    timeout_s: float,
    progress: Callable[[str], None],
    cancelled: Callable[[], bool] = lambda: False,
    inherit_env: tuple[str, ...] = (),
) -> tuple[bool, str]:
    """Build into `out`; returns (reused, log tail). Raises `BuildFailed`.

    The command sees only the basic environment (`child_env`), the worker variables
    named in `inherit_env`, and `env`; the log tail, progress lines and errors are
    redacted (secret values of the worker and of `env`, credential patterns).
    """
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
    full_env = child_env(inherit_env) | env | {"ARTIFACT_DIR": str(tmp), "PATH": path}
    clean = Redactor([*secret_values(), *secret_values(env)])
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
                raise BuildFailed(f"build {why}; log tail:\n{clean(log_tail(log))}")
            # Redact a window, then show its last line: a multi-line secret (a PEM block)
            # is recognised only with its first line in view.
            progress((clean(log_tail(log, 60)).splitlines() or ["building"])[-1])
            time.sleep(0.5)
    tail = clean(log_tail(log, 30))
    if proc.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise BuildFailed(f"build exited with code {proc.returncode}; log tail:\n{tail}")
    (tmp / MARKER).write_text(json.dumps(identity))
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return False, tail
