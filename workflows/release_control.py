"""ReleaseControlWorkflow: incidents, manual freezes and production locks for one environment.

One long-lived workflow per environment (`release-control-<environment>`). Because a
workflow handles its messages one at a time, the per-service production lock has no
race: two commits started in the same second still yield exactly one holder. Every
change is pushed to subscribed promotions as a `release_control` signal, so a SEV-2
halts in-flight canaries within seconds. Continue-as-new keeps the history small.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from rollway.release_control import (
        AuditEntry,
        ControlPolicy,
        ControlSnapshot,
        ControlView,
        ControlViewInput,
        DeclareIncidentInput,
        FreezeInput,
        Incident,
        LockDecision,
        LockHolder,
        LockRelease,
        LockRequest,
        LockStageInput,
        LockStatus,
        ManualFreeze,
        ReleaseControlState,
        ResolveIncidentInput,
        SubscribeInput,
        UnfreezeInput,
    )
    from rollway.security.authorization import freeze_refusal, incident_refusal
    from rollway.security.decisions import SignedDecision
    from workflows.signed_decisions import DecisionGuard

MAX_AUDIT = 200
MAX_SUPERSEDED = 500
HISTORY_LIMIT = 2000


@workflow.defn(name="ReleaseControlWorkflow")
class ReleaseControlWorkflow:
    """Holds an environment's incidents, freezes and locks; lives forever."""

    @workflow.init
    def __init__(self, state: ReleaseControlState) -> None:
        self.state = state
        self.outbox: list[tuple[str, str, object]] = []  # (workflow id, signal, payload)
        self.guard = DecisionGuard(state.nonces)  # carried across continue-as-new
        self._signed: bool | None = None

    @workflow.run
    async def run(self, state: ReleaseControlState) -> None:
        while True:
            await workflow.wait_condition(
                lambda: bool(self.outbox) or self._should_continue_as_new()
            )
            while self.outbox:
                wf_id, name, payload = self.outbox.pop(0)
                await self._send(wf_id, name, payload)
            if self._should_continue_as_new():
                await workflow.wait_condition(workflow.all_handlers_finished)
                if not self.outbox:
                    workflow.continue_as_new(self.state)

    def _should_continue_as_new(self) -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested() or info.get_current_history_length() > HISTORY_LIMIT
        )

    async def _send(self, wf_id: str, name: str, payload: object) -> None:
        try:
            await workflow.get_external_workflow_handle(wf_id).signal(name, payload)
        except Exception as e:  # the promotion is gone (ended, terminated): forget it
            workflow.logger.info("dropping %s after failed %s: %s", wf_id, name, e)
            self.state.subscribers.pop(wf_id, None)
            for service, holder in list(self.state.locks.items()):
                if holder.workflow_id == wf_id:
                    self._audit("rollway", f"release lock held by {wf_id}", "the promotion is gone")
                    self.release_lock(LockRelease(workflow_id=wf_id, service=service))

    # --- bookkeeping ---------------------------------------------------------------------

    @property
    def snap(self) -> ControlSnapshot:
        return self.state.snapshot

    def _audit(self, by: str, action: str, reason: str = "", accepted: bool = True) -> None:
        self.state.audit = [
            *self.state.audit,
            AuditEntry(at=workflow.now(), by=by, action=action, accepted=accepted, reason=reason),
        ][-MAX_AUDIT:]

    def _broadcast(self) -> None:
        self.snap.revision += 1
        for wf_id in self.state.subscribers:
            self.outbox.append((wf_id, "release_control", self.snap.model_copy(deep=True)))

    # --- who may: executions with the `signed-decisions` patch ------------------------------

    def _signing(self) -> bool:
        """Incident and freeze decisions are authenticated and authorized (groups file)."""
        if self._signed is None:
            self._signed = workflow.patched("signed-decisions")
        return self._signed

    async def _judge(
        self,
        *,
        signed: SignedDecision | None,
        by: str,
        action: str,
        comment: str,
        what: str,
        commander: str | None = None,
    ) -> None:
        """Authenticate and authorize; a refusal is audited and raised to the caller."""
        refusal: str | None
        try:
            policy = await workflow.execute_activity(
                "load_control_policy",
                self.snap.environment,
                result_type=ControlPolicy,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(maximum_attempts=3),
            )
        except ActivityError as e:
            refusal = f"could not read the groups file: {e.cause or e}"
        else:
            auth = await self.guard.authenticate(
                signed=signed,
                by=by,
                action=action,
                comment=comment,
                unsigned_accepted=policy.unsigned_accepted,
                where=self.snap.environment,
            )
            if auth.refusal is not None:
                refusal = auth.refusal
            elif action.startswith("incident-"):
                refusal = incident_refusal(policy.groups, by, action, commander=commander)
            else:
                refusal = freeze_refusal(policy.groups, by, action)
        if refusal is not None:
            self._audit(by, what, refusal, accepted=False)
            raise ApplicationError(f"{what} refused: {refusal}", type="DecisionRefused")

    # --- incidents and freezes (updates: a refusal reaches the caller) ---------------------

    @workflow.update(name="declare_incident")
    async def declare_incident(self, inp: DeclareIncidentInput) -> ControlSnapshot:
        if self._signing():
            await self._judge(
                signed=inp.signed,
                by=inp.by,
                action="incident-declare",
                comment=inp.signed_text(),
                what=f"declare incident {inp.id}",
            )
            self._check_declare(inp)  # another declaration may have come meanwhile
        self.snap.incidents.append(
            Incident(
                id=inp.id,
                severity=inp.severity,
                commander=inp.commander,
                summary=inp.summary,
                declared_by=inp.by,
                declared_at=workflow.now(),
            )
        )
        self._audit(
            inp.by, f"declare incident {inp.id} ({inp.severity}, IC {inp.commander})", inp.summary
        )
        self._broadcast()
        return self.snap

    @declare_incident.validator
    def _check_declare(self, inp: DeclareIncidentInput) -> None:
        if any(i.id == inp.id for i in self.snap.incidents):
            raise ApplicationError(f"incident {inp.id} is already active", type="Duplicate")

    @workflow.update(name="resolve_incident")
    async def resolve_incident(self, inp: ResolveIncidentInput) -> ControlSnapshot:
        if self._signing():
            incident = next((i for i in self.snap.incidents if i.id == inp.id), None)
            await self._judge(
                signed=inp.signed,
                by=inp.by,
                action="incident-resolve",
                comment=inp.signed_text(),
                what=f"resolve incident {inp.id}",
                commander=incident.commander if incident is not None else None,
            )
            self._check_resolve(inp)
        self.snap.incidents = [i for i in self.snap.incidents if i.id != inp.id]
        self._audit(inp.by, f"resolve incident {inp.id}", inp.reason)
        self._broadcast()
        return self.snap

    @resolve_incident.validator
    def _check_resolve(self, inp: ResolveIncidentInput) -> None:
        if not any(i.id == inp.id for i in self.snap.incidents):
            active = ", ".join(i.id for i in self.snap.incidents) or "none"
            raise ApplicationError(
                f"no active incident {inp.id} (active: {active})", type="NotFound"
            )

    @workflow.update(name="freeze")
    async def freeze(self, inp: FreezeInput) -> ControlSnapshot:
        if self._signing():
            await self._judge(
                signed=inp.signed,
                by=inp.by,
                action="freeze",
                comment=inp.signed_text(),
                what=f"freeze {inp.id}",
            )
        self.snap.freezes = [f for f in self.snap.freezes if f.id != inp.id]
        self.snap.freezes.append(
            ManualFreeze(
                id=inp.id, reason=inp.reason, by=inp.by, at=workflow.now(), until=inp.until
            )
        )
        self._audit(inp.by, f"freeze {inp.id}", inp.reason)
        self._broadcast()
        return self.snap

    @workflow.update(name="unfreeze")
    async def unfreeze(self, inp: UnfreezeInput) -> ControlSnapshot:
        if self._signing():
            await self._judge(
                signed=inp.signed,
                by=inp.by,
                action="unfreeze",
                comment=inp.signed_text(),
                what=f"unfreeze {inp.id}",
            )
            self._check_unfreeze(inp)
        self.snap.freezes = [f for f in self.snap.freezes if f.id != inp.id]
        self._audit(inp.by, f"unfreeze {inp.id}", inp.reason)
        self._broadcast()
        return self.snap

    @unfreeze.validator
    def _check_unfreeze(self, inp: UnfreezeInput) -> None:
        if not any(f.id == inp.id for f in self.snap.freezes):
            active = ", ".join(f.id for f in self.snap.freezes) or "none"
            raise ApplicationError(f"no freeze {inp.id} (active: {active})", type="NotFound")

    @workflow.query(name="state")
    def query_state(self) -> ReleaseControlState:
        return self.state

    @workflow.query(name="view")
    def query_view(self, inp: ControlViewInput) -> ControlView:
        """A promotion's trusted read: the snapshot, and its lock as release control holds it."""
        holder = self.state.locks.get(inp.service)
        queue = self.state.queues.get(inp.service, [])
        lock: LockDecision | None = None
        if holder is not None and holder.workflow_id == inp.workflow_id:
            lock = self._decision("granted")
        elif any(q.workflow_id == inp.workflow_id for q in queue):
            lock = self._decision("queued", holder=holder.workflow_id if holder else None)
        elif inp.workflow_id in self.state.superseded:
            lock = self._decision(
                "superseded", superseded_by=self.state.superseded[inp.workflow_id]
            )
        return ControlView(snapshot=self.snap, lock=lock)

    def _supersede(self, loser: str, winner: str) -> None:
        self.state.superseded[loser] = winner
        while len(self.state.superseded) > MAX_SUPERSEDED:
            del self.state.superseded[next(iter(self.state.superseded))]
        self.outbox.append((loser, "lock", self._decision("superseded", superseded_by=winner)))

    # --- promotions: subscriptions and the production lock (signals) -----------------------

    @workflow.signal(name="subscribe")
    def subscribe(self, inp: SubscribeInput) -> None:
        self.state.subscribers[inp.workflow_id] = inp.service
        self.outbox.append((inp.workflow_id, "release_control", self.snap.model_copy(deep=True)))

    @workflow.signal(name="request_lock")
    def request_lock(self, req: LockRequest) -> None:
        holder = self.state.locks.get(req.service)
        if holder is None or holder.workflow_id == req.workflow_id:
            self._grant(req)
            return
        if req.on_conflict == "supersede" and holder.stage == "approval":
            self._audit(
                req.workflow_id,
                f"supersede {holder.workflow_id}",
                f"newer commit {req.commit[:12]} of {req.service}",
            )
            self._supersede(holder.workflow_id, req.workflow_id)
            self._grant(req)
            return
        queue = self.state.queues.setdefault(req.service, [])
        if all(q.workflow_id != req.workflow_id for q in queue):
            queue.append(req)
        # Is the holder still alive? A terminated promotion never releases its lock; the
        # failed signal tells us, and `_send` then hands the lock on.
        self.outbox.append((holder.workflow_id, "release_control_ping", "ping"))
        self.outbox.append(
            (req.workflow_id, "lock", self._decision("queued", holder=holder.workflow_id))
        )

    def _grant(self, req: LockRequest) -> None:
        self.state.locks[req.service] = LockHolder(
            workflow_id=req.workflow_id,
            commit=req.commit,
            stage="production" if req.hold else "approval",
        )
        self.outbox.append((req.workflow_id, "lock", self._decision("granted")))

    def _decision(
        self, status: LockStatus, holder: str | None = None, superseded_by: str | None = None
    ) -> LockDecision:
        return LockDecision(
            status=status,
            holder=holder,
            superseded_by=superseded_by,
            environment=self.snap.environment,
        )

    @workflow.signal(name="lock_stage")
    def lock_stage(self, inp: LockStageInput) -> None:
        holder = self.state.locks.get(inp.service)
        if holder is not None and holder.workflow_id == inp.workflow_id:
            holder.stage = inp.stage

    @workflow.signal(name="release_lock")
    def release_lock(self, inp: LockRelease) -> None:
        self.state.subscribers.pop(inp.workflow_id, None)
        queue = self.state.queues.get(inp.service, [])
        self.state.queues[inp.service] = [q for q in queue if q.workflow_id != inp.workflow_id]
        holder = self.state.locks.get(inp.service)
        if holder is None or holder.workflow_id != inp.workflow_id:
            return
        del self.state.locks[inp.service]
        waiting = self.state.queues.pop(inp.service, [])
        if not waiting:
            return
        if waiting[-1].on_conflict == "queue":  # first come, first served
            self.state.queues[inp.service] = waiting[1:]
            self._grant(waiting[0])
            return
        newest = waiting[-1]  # the newest commit wins; older waiting ones are superseded
        for older in waiting[:-1]:
            self._supersede(older.workflow_id, newest.workflow_id)
        self._grant(newest)
