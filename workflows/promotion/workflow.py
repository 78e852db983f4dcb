"""PromotionWorkflow: the stages in pipeline order, and the handlers humans talk to."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from rollway.models import (
        ActionInput,
        ApprovalInput,
        Outcome,
        PromotionInput,
        PromotionResult,
        PromotionState,
        Stage,
    )
    from rollway.release_control import ControlSnapshot, LockDecision, OverrideInput
    from workflows.promotion import decisions
    from workflows.promotion.approval import approval, production_gate
    from workflows.promotion.artifact import archive, build, resolve_image
    from workflows.promotion.canary import canary
    from workflows.promotion.checks import checks
    from workflows.promotion.context import Promotion, Stop, cause
    from workflows.promotion.finish import record_traffic
    from workflows.promotion.migrate import migrate
    from workflows.promotion.scan import scan_gate
    from workflows.promotion.staging import staging


@workflow.defn(name="PromotionWorkflow")
class PromotionWorkflow:
    """Carries one promotion durably; survives worker and server restarts."""

    @workflow.init
    def __init__(self, inp: PromotionInput) -> None:
        self.p = Promotion(inp)

    @workflow.run
    async def run(self, inp: PromotionInput) -> PromotionResult:
        p = self.p
        p.state.started_at = workflow.now()
        # Release control (locks, incidents, windows) came after the first histories.
        p.controlled = workflow.patched("release-control")
        # Bounded, visible rollbacks; cancels that wait; traffic re-read after failures.
        p.honest = workflow.patched("honest-failures")
        # Release control's signals only wake; its state is read by activity.
        if workflow.patched("trusted-control"):
            for participant in (p.release, p.staging_lock):
                if participant is not None:
                    participant.trust_only_reads()
        p.keeper.log(f"promotion of {inp.version} requested", by=inp.requested_by)
        try:
            artifact = await build(p)
            artifact = await resolve_image(p, artifact)
            await scan_gate(p, artifact)
            await checks(p, artifact)  # only with a `checks:` section (patch "checks")
            await staging(p, artifact)
            if p.controlled:
                await production_gate(p)
            else:
                await approval(p)
            await migrate(p)  # only with a `migrations:` section (patch "migrations")
            await canary(p, artifact)  # ends with Stop(promoted | rolled_back | …)
        except Stop as stop:
            p.state.outcome, p.state.reason = stop.outcome, stop.reason
        except ActivityError as e:  # a call outside the plumbing (release control, archive)
            if not p.honest:
                raise
            p.state.outcome, p.state.reason = Outcome.FAILED, f"internal error: {cause(e)}"
        if p.honest:
            await record_traffic(p)
        if p.controlled:
            await p.release.leave()
        p.state.finished_at = workflow.now()
        p.keeper.enter(Stage.DONE, f"{p.state.outcome.value}: {p.state.reason}")
        # The outcome as a search attribute (a new command) came after the first histories.
        if workflow.patched("outcome-search-attribute"):
            p.keeper.record_outcome()
        await archive(p)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return PromotionResult(
            outcome=p.state.outcome,
            reason=p.state.reason,
            version=inp.version,
            stable_version=p.state.stable_version,
            state=p.state,
        )

    # --- approvals ----------------------------------------------------------------

    @workflow.signal(name="approve")
    def approve_signal(self, inp: ApprovalInput) -> None:
        decisions.decide(self.p, inp, "approve")

    @workflow.signal(name="reject")
    def reject_signal(self, inp: ApprovalInput) -> None:
        decisions.decide(self.p, inp, "reject")

    @workflow.update(name="approve")
    def approve_update(self, inp: ApprovalInput) -> PromotionState:
        decisions.decide(self.p, inp, "approve")
        return self.p.state

    @approve_update.validator
    def _validate_approve(self, inp: ApprovalInput) -> None:
        if (refusal := decisions.approval_refusal(self.p, inp, "approve")) is not None:
            raise ApplicationError(f"approval refused: {refusal}", type="ApprovalRefused")

    @workflow.update(name="reject")
    def reject_update(self, inp: ApprovalInput) -> PromotionState:
        decisions.decide(self.p, inp, "reject")
        return self.p.state

    @reject_update.validator
    def _validate_reject(self, inp: ApprovalInput) -> None:
        if (refusal := decisions.approval_refusal(self.p, inp, "reject")) is not None:
            raise ApplicationError(f"rejection refused: {refusal}", type="ApprovalRefused")

    # --- abort, rollback, pause, resume ---------------------------------------------

    @workflow.signal(name="abort")
    def abort_signal(self, inp: ActionInput) -> None:
        decisions.request_abort(self.p, inp)

    @workflow.signal(name="rollback")
    def rollback_signal(self, inp: ActionInput) -> None:
        decisions.request_abort(self.p, inp)

    @workflow.update(name="rollback")
    async def rollback_update(self, inp: ActionInput) -> PromotionState:
        decisions.request_abort(self.p, inp)
        await workflow.wait_condition(lambda: self.p.state.outcome != Outcome.RUNNING)
        return self.p.state

    @rollback_update.validator
    def _validate_rollback(self, inp: ActionInput) -> None:
        if self.p.state.outcome != Outcome.RUNNING:
            raise ApplicationError(
                f"nothing to roll back: the promotion has ended ({self.p.state.outcome.value})",
                type="NotRunning",
            )

    @workflow.signal(name="pause")
    def pause_signal(self, inp: ActionInput) -> None:
        decisions.pause(self.p, inp)

    @workflow.signal(name="resume")
    def resume_signal(self, inp: ActionInput) -> None:
        decisions.resume(self.p, inp)

    # --- release control and overrides ------------------------------------------------

    @workflow.signal(name="release_control")
    def on_release_control(self, snap: ControlSnapshot) -> None:
        self.p.release.on_snapshot(snap)
        self.p.flags.changed = True

    @workflow.signal(name="release_control_ping")
    def on_ping(self, _: str) -> None:
        """Release control checks that a lock holder still exists; nothing to do."""

    @workflow.signal(name="lock")
    def on_lock(self, decision: LockDecision) -> None:
        self.p.participant(decision.environment).on_lock(decision)
        self.p.flags.changed = True

    @workflow.update(name="override")
    def override_update(self, inp: OverrideInput) -> PromotionState:
        decisions.apply_override(self.p, inp)
        return self.p.state

    @override_update.validator
    def _validate_override(self, inp: OverrideInput) -> None:
        if (refusal := decisions.override_refusal(self.p, inp)) is not None:
            raise ApplicationError(f"override refused: {refusal}", type="OverrideRefused")

    @workflow.signal(name="override")
    def override_signal(self, inp: OverrideInput) -> None:
        decisions.apply_override(self.p, inp)

    @workflow.query(name="state")
    def query_state(self) -> PromotionState:
        return self.p.state
