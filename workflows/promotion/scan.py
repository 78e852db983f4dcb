"""Security-scan gate: the artifact's scan reports judged by the pipeline's scan policy."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from rollway.models import Outcome, ScanInput, ScanVerdict, Stage
    from workflows.promotion import options
    from workflows.promotion.calls import activity
    from workflows.promotion.context import Promotion, Stop


async def scan_gate(p: Promotion, artifact: str) -> None:
    """Activity `scan_gate`: a blocking finding ends the promotion `failed`."""
    if p.spec.scan is None:
        return
    p.keeper.enter(Stage.SCAN, "judging security scan reports")
    verdict = await activity(
        p,
        "scan_gate",
        ScanInput(artifact=artifact, scan=p.spec.scan, now=workflow.now()),
        ScanVerdict,
        options.SMOKE,
        what="scan gate",
    )
    p.state.scan = verdict
    if not verdict.passed:
        raise Stop(Outcome.FAILED, f"scan gate blocked: {verdict.summary}")
    p.keeper.log(f"scan gate passed: {verdict.summary}")
