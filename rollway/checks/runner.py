"""One check suite: run its command with the build's hardening, then read its reports.

The command sees only the basic environment plus its own `env` (never the worker's
credentials), writes reports to a fresh $REPORTS_DIR, heartbeats its latest
(redacted) line, is killed with its process group on timeout or cancel, and hands
back a redacted log tail. A failing command is a result, not an error: the gate
decides. A suite with `reports` verifies what CI uploaded instead.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from rollway.checks.models import CheckInput, CheckResult
from rollway.checks.reports import ReportError, cobertura_percent, junit
from rollway.platform.local.processes import log_tail
from rollway.security.inputs import InputError, contained_path
from rollway.security.redact import Redactor, child_env, secret_values


class CheckError(Exception):
    """The suite could not run at all (missing workdir or program)."""


def run_suite(
    inp: CheckInput,
    *,
    work: Path,
    progress: Callable[[str], None],
    cancelled: Callable[[], bool] = lambda: False,
) -> CheckResult:
    """Run (or verify) `inp.suite`; `work` is this suite's scratch folder (emptied first)."""
    suite = inp.suite
    base = Path(inp.pipeline_dir)
    result = CheckResult(name=suite.name)
    started = time.monotonic()
    if suite.command is not None:
        reports = work / "reports"
        shutil.rmtree(work, ignore_errors=True)
        reports.mkdir(parents=True)
        _run(inp, base, work, reports, result, progress, cancelled)
    else:
        assert suite.reports is not None
        reports = base / suite.reports.replace("{commit}", inp.commit).replace(
            "{version}", inp.version
        )
        if not reports.is_dir():
            result.problems.append(f"reports folder {reports} does not exist: CI must upload it")
    _read_reports(inp, reports, result)
    result.seconds = time.monotonic() - started
    return result


def _run(
    inp: CheckInput,
    base: Path,
    work: Path,
    reports: Path,
    result: CheckResult,
    progress: Callable[[str], None],
    cancelled: Callable[[], bool],
) -> None:
    suite = inp.suite
    assert suite.command is not None
    workdir = (base / suite.workdir).resolve()
    if not workdir.is_dir():
        raise CheckError(f"check {suite.name}: workdir {workdir} does not exist")
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = (
        child_env()
        | suite.env
        | {
            "REPORTS_DIR": str(reports),
            "ARTIFACT": inp.artifact,
            "COMMIT": inp.commit,
            "VERSION": inp.version,
            "SERVICE": inp.service,
            "PATH": path,
        }
    )
    clean = Redactor([*secret_values(), *secret_values(suite.env)])
    log = work / "output.log"
    timeout_s = suite.timeout.total_seconds()
    with open(log, "wb") as logf:
        try:
            proc = subprocess.Popen(
                suite.command,
                cwd=workdir,
                env=env,
                stdout=logf,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as e:
            raise CheckError(f"check {suite.name}: could not run {suite.command[0]!r}: {e}") from e
        deadline = time.monotonic() + timeout_s
        while proc.poll() is None:
            if cancelled() or time.monotonic() > deadline:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                if cancelled():
                    raise CheckError(f"check {suite.name} cancelled")
                result.timed_out = True
                result.problems.append(f"timed out after {timeout_s:.0f}s (killed)")
                break
            progress(f"{suite.name}: " + (clean(log_tail(log, 60)).splitlines() or ["running"])[-1])
            time.sleep(0.5)
    # Whatever the command started in its session goes with it.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    result.exit_code = None if result.timed_out else proc.returncode
    result.log_tail = clean(log_tail(log, 30))


def _read_reports(inp: CheckInput, reports: Path, result: CheckResult) -> None:
    suite = inp.suite
    if not reports.is_dir():
        return
    for rel in suite.junit:
        data = _read(reports, rel, result, "junit")
        if data is None:
            continue
        try:
            summary = junit(data, rel, suite.quarantine)
        except ReportError as e:
            result.problems.append(str(e))
            continue
        result.tests += summary.tests
        result.skipped += summary.skipped
        result.failures += summary.failures
        result.quarantined += summary.quarantined
    for component, rel in suite.coverage.items():
        data = _read(reports, rel, result, "coverage")
        if data is None:
            continue
        try:
            result.coverage[component] = cobertura_percent(data, rel)
        except ReportError as e:
            result.problems.append(str(e))


def _read(reports: Path, rel: str, result: CheckResult, kind: str) -> bytes | None:
    try:
        return contained_path(reports, rel, field=f"checks.{kind}").read_bytes()
    except InputError as e:
        result.problems.append(str(e))
        return None
    except FileNotFoundError:
        result.problems.append(f"{kind} report {rel} missing (expected in {reports})")
        return None
