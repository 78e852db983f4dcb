"""What one promotion carries between its stages: input, state, flags, release control."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from temporalio import workflow

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
    from workflows.promotion.release_control import ReleaseParticipant
    from workflows.promotion.state import StateKeeper
    from workflows.signed_decisions import DecisionGuard


class Stop(Exception):
    """Ends the pipeline early with an outcome (not a workflow failure)."""

    def __init__(self, outcome: Outcome, reason: str) -> None:
        super().__init__(reason)
        self.outcome = outcome
        self.reason = reason


def cause(err: BaseException) -> str:
    """The innermost message of an activity failure."""
    while err.__cause__ is not None:
        err = err.__cause__
    return str(err)


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


class Promotion:
    """One promotion's input, queryable state, flags and release-control participant."""

    def __init__(self, inp: PromotionInput) -> None:
        self.inp = inp
        self.spec = inp.pipeline
        self.keeper = StateKeeper(
            PromotionState(service=inp.service, version=inp.version, commit=inp.commit)
        )
        self.state = self.keeper.state
        self.flags = Flags()
        env = self.spec.canary.environment
        self.release = ReleaseParticipant(inp, env, self.spec.environments[env].policy)
        stg = self.spec.staging
        self.staging_lock = (
            ReleaseParticipant(
                inp,
                stg.environment,
                None,
                control_id=f"{inp.release_control}-{stg.environment}"
                if inp.release_control
                else None,
            )
            if stg is not None
            else None
        )
        self.controlled = False  # set in run(): executions with the release-control patch
        self.honest = False  # set in run(): executions with the honest-failures patch
        self.directory = GroupDirectory(groups={})
        self.extras: list[ApprovalRequirement] = []
        self.guard = DecisionGuard({})  # signed decisions' nonces, kept until they expire
        self._signed: bool | None = None  # the `signed-decisions` patch, once asked
        self.actors: GroupDirectory | None = None  # groups read at the start (signed-decisions)

    def signing(self) -> bool:
        """Executions with the `signed-decisions` patch authenticate and authorize every
        human decision. Asked by the first handler or by `run()`, whichever comes first."""
        if self._signed is None:
            self._signed = workflow.patched("signed-decisions")
        return self._signed

    def signing_known(self) -> bool:
        """For validators (read-only, cannot ask for a patch): the answer if already known."""
        return self._signed is True

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
