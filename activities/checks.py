"""The checks stage: one suite (test tier) per activity, so the tiers run in parallel."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from rollway.checks.models import CheckInput, CheckResult
from rollway.checks.runner import CheckError, run_suite
from rollway.home import home
from rollway.security.inputs import InputError, check_commit, check_name, check_version


@activity.defn(name="run_check")
def run_check(inp: CheckInput) -> CheckResult:
    """Run or verify one suite with heartbeats; failing tests are a result, not an error."""
    try:
        check_name(inp.service, "service")
        check_version(inp.version, "version")
        check_commit(inp.commit, "commit")
    except InputError as e:
        raise ApplicationError(str(e), type="InvalidInput", non_retryable=True) from None
    attempt = activity.info().attempt
    work = (
        home()
        / "checks"
        / inp.service
        / f"{inp.version}-{inp.commit[:12]}"
        / f"{inp.suite.name}-{attempt}"
    )
    try:
        return run_suite(
            inp,
            work=work,
            progress=lambda line: activity.heartbeat(line[-200:]),
            cancelled=activity.is_cancelled,
        )
    except CheckError as e:
        raise ApplicationError(str(e), type="CheckError", non_retryable=True) from None
