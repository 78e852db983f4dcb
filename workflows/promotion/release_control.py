"""The promotion's side of release control: subscription, production lock, gate, incident halt.

Used by `PromotionWorkflow` for executions that carry the `release-control` patch.
The release-control workflow pushes `ControlSnapshot`s and `LockDecision`s by
signal; this class keeps the latest of each and evaluates the pure release
policy (`rollway.policy`) against `workflow.now()`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from rollway.models import GateState, PromotionInput
    from rollway.policy import GateDecision, IncidentFreeze, ReleasePolicy, evaluate_gate
    from rollway.release_control import (
        ControlSnapshot,
        ControlView,
        ControlViewInput,
        EnsureControlInput,
        Incident,
        LockDecision,
        LockRelease,
        LockRequest,
        LockStageInput,
        SubscribeInput,
        control_workflow_id,
    )

RETRY_READ_S = 30.0

DEFAULT_HALTING = ("SEV-1", "SEV-2")


class ReleaseParticipant:
    """Talks to the environment's `ReleaseControlWorkflow` on behalf of one promotion."""

    def __init__(
        self,
        inp: PromotionInput,
        environment: str,
        policy: ReleasePolicy | None,
        control_id: str | None = None,
        on_conflict: Literal["supersede", "queue"] = "supersede",
    ) -> None:
        self.inp = inp
        self.on_conflict = on_conflict  # the pipeline's `lock:`
        self.environment = environment
        self.policy = policy
        self.control_id = control_id or inp.release_control or control_workflow_id(environment)
        self.snapshot = ControlSnapshot(environment=environment)
        self.lock: LockDecision | None = None
        self.joined = False
        self.revision_seen = -1
        # Executions with the `trusted-control` patch ignore what a `release_control` or
        # `lock` signal carries (anyone with namespace access can send one): a signal
        # only marks the view stale, and `sync()` reads release control by activity.
        self.trusted = False
        self.stale = False
        self.read_error: str | None = None

    # --- messages from release control (called by the workflow's signal handlers) ------

    def on_snapshot(self, snap: ControlSnapshot) -> None:
        if self.trusted:
            self.stale = True
        elif snap.revision >= self.snapshot.revision:
            self.snapshot = snap

    def on_lock(self, decision: LockDecision) -> None:
        if self.trusted:
            self.stale = True
        else:
            self.lock = decision

    def trust_only_reads(self) -> None:
        """From now on only activity reads count; forget anything a signal brought."""
        self.trusted = True
        self.snapshot = ControlSnapshot(environment=self.environment)
        self.lock = None

    def needs_sync(self) -> bool:
        return self.trusted and self.stale and self.joined

    def wake_for_sync(self) -> bool:
        """A signal came and no read has failed since: read at once."""
        return self.needs_sync() and self.read_error is None

    async def sync(self) -> None:
        """Read release control (activity `read_release_control`) when a signal said it changed."""
        if not self.needs_sync():
            return
        self.stale = False
        try:
            view = await workflow.execute_activity(
                "read_release_control",
                ControlViewInput(
                    control_id=self.control_id,
                    workflow_id=workflow.info().workflow_id,
                    service=self.inp.service,
                ),
                result_type=ControlView,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(maximum_attempts=5),
            )
        except ActivityError as e:  # keep the last view; try again after RETRY_READ_S
            self.stale = True
            self.read_error = str(e.cause or e)
            workflow.logger.warning("could not read release control: %s", self.read_error)
            return
        self.read_error = None
        self.snapshot, self.lock = view.snapshot, view.lock

    def wait_limit(self, seconds: float | None) -> float | None:
        """How long a waiting stage may wait: shorter while a read is owed after a failure."""
        if self.read_error is None or not self.needs_sync():
            return seconds
        return RETRY_READ_S if seconds is None else min(seconds, RETRY_READ_S)

    # --- talking to release control ---------------------------------------------------------

    async def join(self, *, subscribe: bool = True, hold: bool = False) -> None:
        """Start the environment's release control if needed, subscribe, ask for the lock.

        `hold`: the lock is granted straight into the stage no newer commit may take
        away (the holder writes the environment at once); `subscribe=False`: no
        incident or freeze snapshots (a lock is all the promotion needs there).
        """
        # An activity, not a child workflow: release control outlives every promotion.
        await workflow.execute_activity(
            "ensure_release_control",
            EnsureControlInput(workflow_id=self.control_id, environment=self.environment),
            result_type=str,
            start_to_close_timeout=timedelta(seconds=30),
        )
        me = workflow.info().workflow_id
        handle = workflow.get_external_workflow_handle(self.control_id)
        if subscribe:
            await handle.signal(
                "subscribe", SubscribeInput(workflow_id=me, service=self.inp.service)
            )
        await handle.signal(
            "request_lock",
            LockRequest(
                workflow_id=me,
                service=self.inp.service,
                commit=self.inp.commit,
                on_conflict=self.on_conflict,
                hold=hold,
            ),
        )
        self.joined = True

    async def enter_production(self) -> None:
        """Past approval: from now on a newer commit queues instead of superseding."""
        await self._signal(
            "lock_stage",
            LockStageInput(
                workflow_id=workflow.info().workflow_id,
                service=self.inp.service,
                stage="production",
            ),
        )

    async def leave(self) -> None:
        if self.joined:
            self.joined = False
            await self._signal(
                "release_lock",
                LockRelease(workflow_id=workflow.info().workflow_id, service=self.inp.service),
            )

    async def _signal(self, name: str, arg: object) -> None:
        await workflow.get_external_workflow_handle(self.control_id).signal(name, arg)

    # --- policy ---------------------------------------------------------------------------

    def halting_severities(self) -> set[str]:
        """Severities that halt canaries and close the gate: the policy's, else SEV-1/2."""
        if self.policy is not None:
            declared = {
                sev
                for f in self.policy.freezes.root
                if isinstance(f, IncidentFreeze)
                for sev in f.severities
            }
            if declared:
                return declared
        return set(DEFAULT_HALTING)

    def halting_incident(self) -> Incident | None:
        sevs = self.halting_severities()
        return next((i for i in self.snapshot.incidents if i.severity in sevs), None)

    def emergency_approved(self, approvers: list[str]) -> bool:
        """An approver commands an active incident of a severity the emergency path accepts."""
        em = self.policy.emergency if self.policy else None
        if em is None:
            return False
        return any(
            (inc := self.snapshot.commander_of(a)) is not None and inc.severity in em.severities
            for a in approvers
        )

    def gate(self, approvers: list[str], bypass: bool) -> GateDecision:
        """The release gate now: windows, freezes (policy and manual), incidents, day rules."""
        now = workflow.now()
        policy = self.policy or ReleasePolicy()
        decision = evaluate_gate(
            policy,
            now,
            hotfix=self.inp.hotfix,
            emergency_approved=self.emergency_approved(approvers),
            bypass=bypass,
            active_incident_severities=[i.severity for i in self.snapshot.incidents],
        )
        reasons = list(decision.reasons)
        if not bypass and decision.path != "emergency":
            if not any(isinstance(f, IncidentFreeze) for f in policy.freezes.root):
                reasons += [
                    f"active {i.severity} incident {i.id} (IC {i.commander}): production is locked"
                    for i in self.snapshot.incidents
                    if i.severity in self.halting_severities()
                ]
            reasons += [
                f"manual freeze '{f.id}' by {f.by}: {f.reason}"
                for f in self.snapshot.freezes
                if f.until is None or f.until > now
            ]
        if reasons != decision.reasons:
            decision = decision.model_copy(update={"open": False, "reasons": reasons})
        return decision

    @staticmethod
    def gate_state(decision: GateDecision, needed: list[str]) -> GateState:
        return GateState(
            open=decision.open,
            path=decision.path,
            reasons=decision.reasons,
            notes=decision.notes,
            wait_until=decision.wait_until,
            approvals_needed=needed,
        )

    def wait_for(self, decision: GateDecision) -> float | None:
        """Seconds until time alone could change the gate (None: only an event can)."""
        now = workflow.now()
        candidates = [decision.wait_until] if decision.wait_until else []
        candidates += [f.until for f in self.snapshot.freezes if f.until and f.until > now]
        if not candidates:
            return None
        return max(1.0, (min(candidates) - now + timedelta(seconds=1)).total_seconds())
