"""RollbackWorkflow: lock, target, traffic, verification, record; `state` like a promotion."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from rollway.models import Outcome, Stage
    from rollway.release_control import ControlSnapshot, LockDecision
    from rollway.rollback import RollbackInput, RollbackResult, RollbackState
    from workflows.promotion.context import Stop, cause
    from workflows.rollback import steps
    from workflows.rollback.context import Rollback


@workflow.defn(name="RollbackWorkflow")
class RollbackWorkflow:
    """Returns a service to a verified release under its environment lock."""

    @workflow.init
    def __init__(self, inp: RollbackInput) -> None:
        self.r = Rollback(inp)

    @workflow.run
    async def run(self, inp: RollbackInput) -> RollbackResult:
        r = self.r
        r.state.started_at = workflow.now()
        wanted = inp.to_version or "the previous verified release"
        r.keeper.log(
            f"rollback of {inp.service} in {inp.environment} to {wanted} requested"
            + (f": {inp.reason}" if inp.reason else ""),
            by=inp.by,
        )
        try:
            await steps.load_pipeline(r)
            await steps.authorize(r)
            await steps.take_lock(r)
            target = await steps.choose_target(r)
            r.keeper.enter(
                Stage.ROLLING_BACK,
                f"moving traffic from {r.state.from_version or 'nothing'} to {target.version}",
            )
            for env in r.targets():
                await steps.move_traffic(r, env, target)
            for env in r.targets():
                await steps.verify(r, env, target)
            verdict = {"passed": "verified", "skipped": "smoke checks passed"}.get(
                r.state.verification, f"metrics {r.state.verification}"
            )
            raise Stop(
                Outcome.ROLLED_BACK,
                f"{target.version} serves 100% of {inp.environment} ({verdict})"
                + (f", was {r.state.from_version}" if r.state.from_version else ""),
            )
        except Stop as stop:
            r.state.outcome, r.state.reason = stop.outcome, stop.reason
        except ActivityError as e:  # release control or another call outside the steps
            r.state.outcome, r.state.reason = Outcome.FAILED, f"internal error: {cause(e)}"
        if r.state.lock == "granted":
            await steps.record_traffic(r)
        await r.lock.leave()
        r.state.finished_at = workflow.now()
        r.keeper.enter(Stage.DONE, f"{r.state.outcome.value}: {r.state.reason}")
        r.keeper.record_outcome()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return RollbackResult(
            outcome=r.state.outcome.value,
            reason=r.state.reason,
            version=r.state.target.version if r.state.target else None,
            state=r.state,
        )

    # --- release control talks to lock holders and waiters ------------------------------

    @workflow.signal(name="lock")
    def on_lock(self, _: LockDecision) -> None:
        """Only a wake-up: the lock is read through `read_release_control`."""
        self.r.lock.wake()

    @workflow.signal(name="release_control_ping")
    def on_ping(self, _: str) -> None:
        """Release control checks that a lock holder still exists; nothing to do."""

    @workflow.signal(name="release_control")
    def on_release_control(self, _: ControlSnapshot) -> None:
        """A rollback does not subscribe; a snapshot sent anyway changes nothing."""

    @workflow.query(name="state")
    def query_state(self) -> RollbackState:
        return self.r.state
