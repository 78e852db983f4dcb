"""Checks stage: the pipeline's test tiers at once, one activity each, then the gate.

Runs only for pipelines with a `checks:` section, in executions that took the
`checks` patch (asked only then). Every suite has its own timeout; the gate
(`rollway/checks/gate.py`) fails the promotion on a failed, timed-out or
report-less suite or on coverage under a component's threshold.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from rollway.checks.gate import judge
    from rollway.checks.models import CheckInput, CheckResult
    from rollway.models import Outcome, Stage
    from workflows.promotion.calls import activity
    from workflows.promotion.context import Promotion, Stop


def check_options(timeout: timedelta) -> dict[str, Any]:
    """A suite's own timeout (plus reading its reports); one retry for a lost worker."""
    return {
        "start_to_close_timeout": timeout + timedelta(minutes=1),
        "heartbeat_timeout": timedelta(seconds=60),
        "retry_policy": RetryPolicy(initial_interval=timedelta(seconds=5), maximum_attempts=2),
    }


async def checks(p: Promotion, artifact: str) -> None:
    """Activity `run_check` once per suite, concurrently; then the gate."""
    spec = p.spec.checks
    if spec is None or not workflow.patched("checks"):
        return
    names = ", ".join(s.name for s in spec.suites)
    p.keeper.enter(Stage.CHECKS, f"running {len(spec.suites)} check(s) in parallel: {names}")
    runs = [
        activity(
            p,
            "run_check",
            CheckInput(
                service=p.inp.service,
                version=p.inp.version,
                commit=p.inp.commit,
                artifact=artifact,
                suite=suite,
                pipeline_dir=p.inp.pipeline_dir,
            ),
            CheckResult,
            check_options(suite.timeout),
            what=f"check {suite.name}",
        )
        for suite in spec.suites
    ]
    outcomes = await asyncio.gather(*runs, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    results = [o for o in outcomes if isinstance(o, CheckResult)]
    verdict = judge(spec, results)
    for line in verdict.lines:
        p.keeper.log(line)
    if not verdict.passed:
        raise Stop(Outcome.FAILED, f"checks failed: {verdict.summary}")
    p.keeper.log(f"checks passed: {verdict.summary}")
