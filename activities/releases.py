"""Which releases of a service passed a canary: read from Temporal's records of promotions.

Temporal already keeps every finished promotion and its `PromotionResult` (the final
state: version, commit, artifact, canary analyses), so no second database can drift
from it. The activity lists the service's completed promotions (visibility), reads
each result, and keeps the promoted ones in the environment, newest first, one per
version.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from rollway.models import Outcome, PromotionResult, PromotionState
from rollway.rollback import FindReleasesInput, ReleaseHistory, VerifiedRelease

PROMOTION_PREFIX = "promote-"


def visibility_query(service: str) -> str:
    """Completed promotions whose id is `promote-<service>-…` (the CLI's ids)."""
    return (
        "WorkflowType = 'PromotionWorkflow' AND ExecutionStatus = 'Completed' "
        f"AND WorkflowId STARTS_WITH '{PROMOTION_PREFIX}{service}-'"
    )


def release_of(
    workflow_id: str, result: PromotionResult, environment: str
) -> VerifiedRelease | None:
    """The release a finished promotion left in `environment`, if it promoted one there."""
    state = result.state
    if state is None or result.outcome != Outcome.PROMOTED:
        return None
    if state.canary is not None and state.canary.environment != environment:
        return None
    passed, how = _verdict(state, workflow_id)
    return VerifiedRelease(
        version=state.version,
        commit=state.commit,
        artifact=state.artifact,
        environment=environment,
        workflow_id=workflow_id,
        finished_at=state.finished_at,
        canary_passed=passed,
        how=how,
    )


def _verdict(state: PromotionState, workflow_id: str) -> tuple[bool, str]:
    c = state.canary
    if c is None:
        return False, f"promoted without a canary ({workflow_id})"
    if not c.analyses:
        return False, f"went to 100% with no canary analysis, e.g. a first release ({workflow_id})"
    if c.step < len(c.steps) - 1:
        return False, f"promoted early at step {c.step + 1} of {len(c.steps)} ({workflow_id})"
    last = c.analyses[-1]
    if last.status != "pass":
        return False, f"its last canary analysis was {last.status} ({workflow_id})"
    steps = "/".join(f"{w}%" for w in c.steps)
    return True, f"passed its canary {steps} ({workflow_id})"


async def release_history(client: Client, inp: FindReleasesInput) -> ReleaseHistory:
    """Promoted releases of `inp.service` in `inp.environment`, newest first, one per version."""
    found: dict[str, VerifiedRelease] = {}
    scanned = 0
    async for wf in client.list_workflows(visibility_query(inp.service), limit=inp.limit):
        if wf.status != WorkflowExecutionStatus.COMPLETED:
            continue
        scanned += 1
        try:
            handle = client.get_workflow_handle(
                wf.id, run_id=wf.run_id, result_type=PromotionResult
            )
            result = await handle.result()
        except RPCError:
            continue  # gone since it was listed (retention)
        release = release_of(wf.id, result, inp.environment)
        if release is None or release.version in found:
            continue
        if result.state is not None and result.state.service != inp.service:
            continue
        found[release.version] = release
    releases = sorted(
        found.values(), key=lambda r: (r.finished_at is not None, r.finished_at), reverse=True
    )
    return ReleaseHistory(releases=releases, scanned=scanned)


@activity.defn(name="find_releases")
async def find_releases(inp: FindReleasesInput) -> ReleaseHistory:
    """Read-only, so safe to retry: the service's promoted releases and their canary verdicts."""
    return await release_history(activity.client(), inp)
