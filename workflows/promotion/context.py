"""What one promotion carries between its stages: input, state, flags, release control."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, RetryState

with workflow.unsafe.imports_passed_through():
    from rollway.models import (
        ActionInput,
        AnalysisSegment,
        ApprovalRecord,
        Outcome,
        PromotionInput,
        PromotionState,
        Stage,
    )
    from rollway.platform.base import DeploymentStatus
    from rollway.policy import ApprovalRequirement, GroupDirectory
    from rollway.spec import PipelineSpec
    from workflows.promotion.notify import Notices
    from workflows.promotion.release_control import ReleaseParticipant
    from workflows.promotion.state import StateKeeper
    from workflows.signed_decisions import DecisionGuard


class Stop(Exception):
    """Ends the pipeline early with an outcome (not a workflow failure)."""

    def __init__(self, outcome: Outcome, reason: str) -> None:
        super().__init__(reason)
        self.outcome = outcome
        self.reason = reason


def cause(err: BaseException, limit: int = 600) -> str:
    """An activity failure's whole story, outermost first: `what: why: root cause`.

    Temporal wraps the activity's exception (and the exceptions it was raised
    from) in an `ActivityError` whose own text is only "Activity task failed";
    that wrapper is skipped, but how its retries ended is kept ("retries
    exhausted", "timed out"), as is every distinct message along the chain.
    """
    parts: list[str] = []
    ending = ""
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, ActivityError):
            ending = _RETRY_ENDINGS.get(seen.retry_state, "") if seen.retry_state else ending
        else:
            text = str(seen).strip() or type(seen).__name__
            if isinstance(seen, ApplicationError) and seen.type and seen.type not in text:
                text = f"{seen.type}: {text}"
            if not any(text in earlier for earlier in parts):
                parts.append(text)
        seen = seen.__cause__
    story = ": ".join(parts) or str(err)
    if ending:
        story = f"{story} ({ending})"
    return story if len(story) <= limit else story[: limit - 1] + "…"


_RETRY_ENDINGS = {
    RetryState.MAXIMUM_ATTEMPTS_REACHED: "retries exhausted",
    RetryState.TIMEOUT: "gave up: retry time limit reached",
    RetryState.NON_RETRYABLE_FAILURE: "not retryable",
}


@dataclass
class Flags:
    """What humans and release control asked for, read by the waiting stages."""

    abort_request: ActionInput | None = None
    changed: bool = False  # something a waiting stage should re-evaluate
    bypass_by: str | None = None  # an override opened the release gate
    skip_soak: bool = False
    promote_now: bool = False
    emergency: bool = False  # took the emergency path: its own incident does not halt it
    halt_logged: str | None = None  # the incident last recorded as holding the canary
    promoted_reason: str = ""
    segments: list[AnalysisSegment] = field(default_factory=list)  # for the judge
    instances: tuple[str, str] = ("", "")  # the platform's names of canary and stable builds


class Promotion:
    """One promotion's input, queryable state, flags and release-control participant."""

    def __init__(self, inp: PromotionInput) -> None:
        self.inp = inp
        self.keeper = StateKeeper(
            PromotionState(service=inp.service, version=inp.version, commit=inp.commit)
        )
        self.state = self.keeper.state
        self.flags = Flags()
        self.pipeline_dir = inp.pipeline_dir
        self._spec: PipelineSpec | None = None
        # Until the spec arrives (executions with the `trusted-catalog` patch load it by
        # activity at the start of run()), handlers talk to a participant that joins nothing.
        self.release = ReleaseParticipant(inp, "production", None)
        self.staging_lock: ReleaseParticipant | None = None
        if inp.pipeline is not None:  # histories before the catalog; development workers
            self.use_spec(inp.pipeline)
        self.controlled = False  # set in run(): executions with the release-control patch
        self.honest = False  # set in run(): executions with the honest-failures patch
        self.directory = GroupDirectory(groups={})
        self.extras: list[ApprovalRequirement] = []
        self.notices: Notices | None = None  # set in run() when the pipeline has notifications
        self.guard = DecisionGuard({})  # signed decisions' nonces, kept until they expire
        self._signed: bool | None = None  # the `signed-decisions` patch, once asked
        self.actors: GroupDirectory | None = None  # groups read at the start (signed-decisions)

    @property
    def spec(self) -> PipelineSpec:
        """The pipeline; a stage never runs before it is known."""
        if self._spec is None:
            raise RuntimeError("the pipeline is not loaded yet")
        return self._spec

    @property
    def has_spec(self) -> bool:
        return self._spec is not None

    def use_spec(self, spec: PipelineSpec) -> None:
        """Take `spec` as this promotion's pipeline: production's and staging's participants."""
        inp = self.inp
        self._spec = spec
        env = spec.canary.environment
        self.release = ReleaseParticipant(
            inp, env, spec.environments[env].policy, on_conflict=spec.lock
        )
        stg = spec.staging
        self.staging_lock = (
            ReleaseParticipant(
                inp,
                stg.environment,
                None,
                control_id=f"{inp.release_control}-{stg.environment}"
                if inp.release_control
                else None,
                on_conflict=spec.lock,
            )
            if stg is not None
            else None
        )

    def signing(self) -> bool:
        """Executions with the `signed-decisions` patch authenticate and authorize every
        human decision. Asked by the first handler or by `run()`, whichever comes first."""
        if self._signed is None:
            self._signed = workflow.patched("signed-decisions")
        return self._signed

    def signing_known(self) -> bool:
        """For validators (read-only, cannot ask for a patch): the answer if already known."""
        return self._signed is True

    def forget_spec(self) -> None:
        """An inline spec is not trusted until the worker vouches for it (`load_pipeline`)."""
        self._spec = None
        self.release = ReleaseParticipant(self.inp, "production", None)
        self.staging_lock = None

    def check_abort(self) -> None:
        """An abort or rollback request ends the promotion at the next check."""
        a = self.flags.abort_request
        if a is None:
            return
        in_canary = self.state.stage in (Stage.CANARY, Stage.ROLLING_BACK, Stage.ROLLBACK_STUCK)
        outcome = Outcome.ROLLED_BACK if in_canary else Outcome.ABORTED
        raise Stop(
            outcome,
            f"{'rolled back' if in_canary else 'aborted'} by {a.by}"
            + (f": {a.reason}" if a.reason else ""),
        )

    def participant(self, environment: str | None) -> ReleaseParticipant:
        """Whose lock decision this is: staging's, else production's."""
        if self.staging_lock is not None and environment == self.staging_lock.environment:
            return self.staging_lock
        return self.release

    async def wait_change(self, seconds: float | None) -> None:
        """Until something changes (an approval, a snapshot, a lock) or `seconds` pass."""
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: self.flags.changed or self.flags.abort_request is not None,
                timeout=seconds,
            )

    def abort_reason(self) -> str:
        a = self.flags.abort_request
        assert a is not None
        return f"manual rollback by {a.by}" + (f": {a.reason}" if a.reason else "")

    def approvers(self) -> list[str]:
        return [a.by for a in self.state.approvals if a.decision == "approve"]

    def rejected(self) -> ApprovalRecord | None:
        return next((a for a in self.state.approvals if a.decision == "reject"), None)

    def check_rejected(self) -> None:
        if (rejected := self.rejected()) is not None:
            raise Stop(
                Outcome.REJECTED, f"rejected by {rejected.by}: {rejected.comment}".rstrip(": ")
            )


def same_release(p: Promotion, status: DeploymentStatus, artifact: str) -> None:
    """The label matches the stable version there; so must the artifact (a release is a commit)."""
    stable = status.stable
    if stable is not None and stable.artifact and stable.artifact != artifact:
        raise Stop(
            Outcome.FAILED,
            f"{p.inp.version} already runs in {status.target.label()} built from another "
            f"artifact ({stable.artifact}); commit {p.inp.commit[:12]} is a new release: "
            "give it its own version label and promote that",
        )
