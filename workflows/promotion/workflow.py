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
    from workflows.promotion import decisions, notify
    from workflows.promotion.approval import approval, production_gate
    from workflows.promotion.artifact import archive, build, load_pipeline, resolve_image
    from workflows.promotion.canary import canary
    from workflows.promotion.checks import checks
    from workflows.promotion.context import Promotion, Stop, cause
    from workflows.promotion.finish import record_traffic
    from workflows.promotion.incidents import open_incident
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
        trusted = workflow.patched("trusted-control")
        # The pipeline comes from the worker's catalog (an inline one: development workers).
        catalog = workflow.patched("trusted-catalog")
        # Decisions are authenticated (signed or unsigned by policy) and authorized.
        p.signing()
        p.keeper.log(f"promotion of {inp.version} requested", by=inp.requested_by)
        if not catalog:  # histories from before the catalog: the inline spec is known now
            notify.start(p)  # only pipelines with `notifications:` (and then a patch marker)
        try:
            if catalog:
                await load_pipeline(p)
                notify.start(p)
            if trusted:
                for participant in (p.release, p.staging_lock):
                    if participant is not None:
                        participant.trust_only_reads()
            if p.signing():
                await decisions.load_actors(p)
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
            await p.release.leave()  # only when it joined: a refused pipeline joined nothing
        p.state.finished_at = workflow.now()
        p.keeper.enter(Stage.DONE, f"{p.state.outcome.value}: {p.state.reason}")
        # The outcome as a search attribute (a new command) came after the first histories.
        if workflow.patched("outcome-search-attribute"):
            p.keeper.record_outcome()
        # Incidents out (GitHub, PagerDuty) came after the first histories.
        if p.has_spec and p.spec.incidents is not None and workflow.patched("incidents-out"):
            await open_incident(p)
        await notify.finish(p)
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
    # With the `signed-decisions` patch every decision is authenticated and authorized
    # (decisions.*_signed) and refusals are audited: validators then only refuse what
    # needs no audit (an ended promotion).

    @workflow.signal(name="approve")
    async def approve_signal(self, inp: ApprovalInput) -> None:
        await self._decide(inp, "approve")

    @workflow.signal(name="reject")
    async def reject_signal(self, inp: ApprovalInput) -> None:
        await self._decide(inp, "reject")

    async def _decide(self, inp: ApprovalInput, kind: str) -> str | None:
        if self.p.signing():
            return await decisions.decide_signed(self.p, inp, kind)
        decisions.decide(self.p, inp, kind)
        return None

    async def _decide_update(self, inp: ApprovalInput, kind: str, what: str) -> PromotionState:
        if (refusal := await self._decide(inp, kind)) is not None:
            raise ApplicationError(f"{what} refused: {refusal}", type="ApprovalRefused")
        return self.p.state

    def _validate_decision(self, inp: ApprovalInput, kind: str, what: str) -> None:
        if self.p.signing_known():
            refusal = decisions.ended_refusal(self.p)
        else:
            refusal = decisions.approval_refusal(self.p, inp, kind)
        if refusal is not None:
            raise ApplicationError(f"{what} refused: {refusal}", type="ApprovalRefused")

    @workflow.update(name="approve")
    async def approve_update(self, inp: ApprovalInput) -> PromotionState:
        return await self._decide_update(inp, "approve", "approval")

    @approve_update.validator
    def _validate_approve(self, inp: ApprovalInput) -> None:
        self._validate_decision(inp, "approve", "approval")

    @workflow.update(name="reject")
    async def reject_update(self, inp: ApprovalInput) -> PromotionState:
        return await self._decide_update(inp, "reject", "rejection")

    @reject_update.validator
    def _validate_reject(self, inp: ApprovalInput) -> None:
        self._validate_decision(inp, "reject", "rejection")

    # --- abort, rollback, pause, resume ---------------------------------------------

    async def _act(self, inp: ActionInput, action: str) -> str | None:
        if self.p.signing():
            return await decisions.act_signed(self.p, inp, action)
        if action in ("abort", "rollback"):
            decisions.request_abort(self.p, inp)
        elif action == "pause":
            decisions.pause(self.p, inp)
        else:
            decisions.resume(self.p, inp)
        return None

    @workflow.signal(name="abort")
    async def abort_signal(self, inp: ActionInput) -> None:
        await self._act(inp, "abort")

    @workflow.signal(name="rollback")
    async def rollback_signal(self, inp: ActionInput) -> None:
        await self._act(inp, "rollback")

    @workflow.update(name="rollback")
    async def rollback_update(self, inp: ActionInput) -> PromotionState:
        if (refusal := await self._act(inp, "rollback")) is not None:
            raise ApplicationError(f"rollback refused: {refusal}", type="ActionRefused")
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
    async def pause_signal(self, inp: ActionInput) -> None:
        await self._act(inp, "pause")

    @workflow.signal(name="resume")
    async def resume_signal(self, inp: ActionInput) -> None:
        await self._act(inp, "resume")

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

    async def _override(self, inp: OverrideInput) -> str | None:
        if self.p.signing():
            return await decisions.override_signed(self.p, inp)
        decisions.apply_override(self.p, inp)
        return None

    @workflow.update(name="override")
    async def override_update(self, inp: OverrideInput) -> PromotionState:
        if (refusal := await self._override(inp)) is not None:
            raise ApplicationError(f"override refused: {refusal}", type="OverrideRefused")
        return self.p.state

    @override_update.validator
    def _validate_override(self, inp: OverrideInput) -> None:
        if self.p.signing_known():
            refusal = (
                "this promotion predates overrides"
                if not self.p.controlled
                else decisions.ended_refusal(self.p)
            )
        else:
            refusal = decisions.override_refusal(self.p, inp)
        if refusal is not None:
            raise ApplicationError(f"override refused: {refusal}", type="OverrideRefused")

    @workflow.signal(name="override")
    async def override_signal(self, inp: OverrideInput) -> None:
        await self._override(inp)

    @workflow.query(name="state")
    def query_state(self) -> PromotionState:
        return self.p.state
