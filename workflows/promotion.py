"""PromotionWorkflow: one commit from build to 100 % production traffic, or back.

The stages run in the order the pipeline documents list them:
build -> scan gate -> staging + smoke -> approval -> canary ramp -> promotion.
Each stage names the activity that does its work (see `activities/`). Any
failure ends the promotion in a known state with traffic on the stable
version; the `state` query tells where it stands at any moment.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from rollway.control import ControlSnapshot, LockDecision, OverrideInput
    from rollway.durations import format_duration
    from rollway.models import (
        ActionInput,
        AnalysisInput,
        AnalysisResult,
        AnalysisSegment,
        ApprovalInput,
        ApprovalRecord,
        ArchiveInput,
        ArgoSyncInput,
        BuildInput,
        BuildResult,
        CanaryState,
        DeployInput,
        Outcome,
        PlatformInput,
        PromotionInput,
        PromotionResult,
        PromotionState,
        ResolveImageInput,
        ScanInput,
        SmokeInput,
        SmokeResult,
        Stage,
        UndoInput,
        WaitReadyInput,
        WaveState,
        WeightInput,
    )
    from rollway.platform.base import DeploymentStatus, Target
    from rollway.platform.kubernetes.argocd import ArgoCDSyncResult
    from rollway.platform.kubernetes.config import KubernetesPlatformConfig
    from rollway.policy import (
        ApprovalPolicy,
        ApprovalRequirement,
        GroupDirectory,
        approval_progress,
        check_approval,
    )
    from rollway.providers.aws.audit_archive import AuditRecordRef
    from rollway.providers.aws.ecr import ImageRef
    from rollway.scan import ScanVerdict
    from workflows import options
    from workflows.release import ReleaseParticipant
    from workflows.state import StateKeeper


T = TypeVar("T")


class _Stop(Exception):
    """Ends the pipeline early with an outcome (not a workflow failure)."""

    def __init__(self, outcome: Outcome, reason: str) -> None:
        super().__init__(reason)
        self.outcome = outcome
        self.reason = reason


def _cause(err: BaseException) -> str:
    """The innermost message of an activity failure."""
    while err.__cause__ is not None:
        err = err.__cause__
    return str(err)


@workflow.defn(name="PromotionWorkflow")
class PromotionWorkflow:
    """Carries one promotion durably; survives worker and server restarts."""

    @workflow.init
    def __init__(self, inp: PromotionInput) -> None:
        self.inp = inp
        self.spec = inp.pipeline
        self.keeper = StateKeeper(
            PromotionState(service=inp.service, version=inp.version, commit=inp.commit)
        )
        self.state = self.keeper.state
        self.abort_request: ActionInput | None = None
        env = self.spec.canary.environment
        self.release = ReleaseParticipant(inp, env, self.spec.environments[env].policy)
        self.controlled = False  # set in run(): executions with the release-control patch
        self.directory = GroupDirectory(groups={})
        self.extras: list[ApprovalRequirement] = []
        self.changed = False  # something a waiting stage should re-evaluate
        self.bypass_by: str | None = None
        self.skip_soak = False
        self.promote_now = False
        self.halt_logged: str | None = None
        self.segments: list[AnalysisSegment] = []  # this canary's steps, for the judge
        self.promoted_reason = ""
        self.emergency = False  # took the emergency path: its own incident does not halt it

    # --- the pipeline -------------------------------------------------------------

    @workflow.run
    async def run(self, inp: PromotionInput) -> PromotionResult:
        self.state.started_at = workflow.now()
        # Release control (locks, incidents, windows) came after the first histories.
        self.controlled = workflow.patched("release-control")
        self.keeper.log(f"promotion of {inp.version} requested", by=inp.requested_by)
        try:
            artifact = await self.build()
            artifact = await self.resolve_image(artifact)
            await self.scan_gate(artifact)
            await self.staging(artifact)
            if self.controlled:
                await self.production_gate()
            else:
                await self.approval()
            await self.canary(artifact)
        except _Stop as stop:
            self.state.outcome, self.state.reason = stop.outcome, stop.reason
        if self.controlled:
            await self.release.leave()
        self.state.finished_at = workflow.now()
        self.keeper.enter(Stage.DONE, f"{self.state.outcome.value}: {self.state.reason}")
        await self.archive()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return PromotionResult(
            outcome=self.state.outcome,
            reason=self.state.reason,
            version=inp.version,
            stable_version=self.state.stable_version,
            state=self.state,
        )

    async def build(self) -> str:
        if self.spec.build is None:
            raise _Stop(Outcome.FAILED, "the pipeline has no build stage and no artifact")
        self.keeper.enter(Stage.BUILD, f"building {self.inp.version} at {self.inp.commit[:12]}")
        timeout = getattr(self.spec.build, "timeout", timedelta(minutes=5))
        result = await self._activity(
            "build",
            BuildInput(
                service=self.inp.service,
                version=self.inp.version,
                commit=self.inp.commit,
                build=self.spec.build,
                pipeline_dir=self.inp.pipeline_dir,
            ),
            BuildResult,
            options.build_options(timeout),
            what="build",
        )
        self.state.artifact = result.artifact
        self.keeper.log("artifact reused" if result.reused else f"built {result.artifact}")
        return result.artifact

    async def resolve_image(self, artifact: str) -> str:
        """With `image:` set, pin the image built for the commit by its digest."""
        if self.spec.image is None:
            return artifact
        ref = await self._activity(
            "resolve_image",
            ResolveImageInput(
                service=self.inp.service, commit=self.inp.commit, image=self.spec.image
            ),
            ImageRef,
            options.PLATFORM,
            what="image lookup",
        )
        self.state.artifact = ref.reference
        self.keeper.log(f"image {ref.repository}:{ref.tag} is {ref.reference}")
        return ref.reference

    async def archive(self) -> None:
        """With `audit:` set, write the finished promotion's record to S3 (idempotent)."""
        if self.spec.audit is None:
            return
        record = self.state.model_dump(mode="json")
        try:
            ref = await workflow.execute_activity(
                "archive_audit",
                ArchiveInput(
                    service=self.inp.service,
                    workflow_id=workflow.info().workflow_id,
                    finished_at=self.state.finished_at or workflow.now(),
                    record=record,
                    audit=self.spec.audit,
                ),
                result_type=AuditRecordRef,
                **options.PLATFORM,
            )
            self.keeper.log(f"record archived to {ref.uri}")
        except ActivityError as e:
            self.keeper.log(f"audit archive failed (the outcome stands): {_cause(e)}")

    async def scan_gate(self, artifact: str) -> None:
        if self.spec.scan is None:
            return
        self.keeper.enter(Stage.SCAN, "judging security scan reports")
        verdict = await self._activity(
            "scan_gate",
            ScanInput(artifact=artifact, scan=self.spec.scan, now=workflow.now()),
            ScanVerdict,
            options.SMOKE,
            what="scan gate",
        )
        self.state.scan = verdict
        if not verdict.passed:
            raise _Stop(Outcome.FAILED, f"scan gate blocked: {verdict.summary}")
        self.keeper.log(f"scan gate passed: {verdict.summary}")

    async def staging(self, artifact: str) -> None:
        stg = self.spec.staging
        if stg is None:
            return
        self.keeper.enter(Stage.STAGING, f"deploying to {stg.environment}")
        target = Target(service=self.inp.service, environment=stg.environment)
        env = self._platform_input(target)
        platform = env.environment.platform
        if isinstance(platform, KubernetesPlatformConfig) and platform.argocd is not None:
            await self._argocd_staging(env, platform.argocd.timeout)
            return
        status = await self._deploy(env, artifact)
        if status.canary is not None:
            smoke_url = status.canary.endpoint or status.frontend_url or ""
            try:
                smoke = await self._activity(
                    "smoke_test",
                    SmokeInput(base_url=smoke_url, checks=stg.smoke, retries=stg.retries),
                    SmokeResult,
                    options.SMOKE,
                    what="staging smoke checks",
                )
            except _Stop:
                await self._rollback_target(env)
                raise
            self.keeper.log("smoke checks passed: " + ", ".join(smoke.results))
            await self._call("set_weight", WeightInput(**env.model_dump(), weight=100))
            await self._call("promote", env)
        self.keeper.log(f"{stg.environment} runs {self.inp.version}")

    async def _argocd_staging(self, env: PlatformInput, sync_timeout: timedelta) -> None:
        """Seeds 000/004: Argo CD syncs staging to the commit; then the smoke checks run."""
        stg = self.spec.staging
        assert stg is not None
        synced = await self._activity(
            "argocd_sync",
            ArgoSyncInput(**env.model_dump(), revision=self.inp.commit),
            ArgoCDSyncResult,
            options.argocd_options(sync_timeout),
            what="Argo CD sync",
        )
        self.keeper.log(
            f"Argo CD {synced.application} synced to {synced.synced_revision or synced.revision} "
            f"({synced.health_status})"
        )
        status = await self._call("platform_status", env)
        if stg.smoke and status.frontend_url:
            smoke = await self._activity(
                "smoke_test",
                SmokeInput(base_url=status.frontend_url, checks=stg.smoke, retries=stg.retries),
                SmokeResult,
                options.SMOKE,
                what="staging smoke checks",
            )
            self.keeper.log("smoke checks passed: " + ", ".join(smoke.results))

    async def approval(self) -> None:
        spec = self.spec.approval
        if spec is None:
            return
        self.state.approvals_required = spec.required
        self.keeper.enter(Stage.APPROVAL, f"waiting for {spec.required} approval(s)")
        timeout = spec.timeout.total_seconds() if spec.timeout else None
        try:
            await workflow.wait_condition(
                lambda: (
                    self._approvals() >= spec.required
                    or self._rejected() is not None
                    or self.abort_request is not None
                ),
                timeout=timeout,
            )
        except TimeoutError:
            assert spec.timeout is not None
            raise _Stop(
                Outcome.REJECTED, f"no approval within {format_duration(spec.timeout)}"
            ) from None
        self._check_abort_or_rollback()
        rejected = self._rejected()
        if rejected is not None:
            raise _Stop(
                Outcome.REJECTED, f"rejected by {rejected.by}: {rejected.comment}".rstrip(": ")
            )
        self.keeper.log("approved by " + ", ".join(a.by for a in self.state.approvals))

    async def production_gate(self) -> None:
        """The production lock, approvals and the release gate, re-evaluated on every change."""
        await self.release.join()
        await self._await_lock()
        self.directory = await self._activity(
            "load_groups", self.inp.service, GroupDirectory, options.PLATFORM, what="groups"
        )
        policy = self._approval_policy()
        started, escalated, last_reasons = workflow.now(), False, None
        while True:
            self.changed = False
            self._check_abort_or_rollback()
            self._check_superseded()
            if (rejected := self._rejected()) is not None:
                raise _Stop(
                    Outcome.REJECTED, f"rejected by {rejected.by}: {rejected.comment}".rstrip(": ")
                )
            decision = self.release.gate(self._approvers(), bypass=self.bypass_by is not None)
            self.extras = list(decision.extra_approvals)
            progress = approval_progress(
                policy,
                self.directory,
                approved_by=self._approvers(),
                author=self.inp.author,
                extra_requirements=self.extras,
            )
            satisfied = progress.satisfied or (decision.open and decision.path == "emergency")
            self.state.gate = self.release.gate_state(
                decision, [] if satisfied else progress.still_needed
            )
            self.state.approvals_required = policy.required + sum(e.count for e in self.extras)
            timeout: float | None = None
            if not satisfied:
                if self.state.stage != Stage.APPROVAL:
                    self.keeper.enter(Stage.APPROVAL, f"waiting for approval: {progress.summary}")
                if policy.timeout is not None and not escalated:
                    left = (started + policy.timeout - workflow.now()).total_seconds()
                    if left <= 0 and policy.on_timeout == "reject":
                        raise _Stop(
                            Outcome.REJECTED,
                            f"no approval within {format_duration(policy.timeout)}",
                        )
                    if left <= 0:
                        escalated = True
                        groups = ", ".join(policy.escalate_to) or "the approvers"
                        self.keeper.audit(
                            "rollway",
                            "escalate approval",
                            reason=f"no decision in {format_duration(policy.timeout)}; notified {groups}",
                        )
                        continue
                    timeout = left
            elif not decision.open:
                if decision.reasons != last_reasons:
                    last_reasons = decision.reasons
                    when = (
                        f"; earliest {decision.wait_until:%Y-%m-%d %H:%M} UTC"
                        if decision.wait_until
                        else ""
                    )
                    self.keeper.enter(Stage.GATE, "waiting: " + "; ".join(decision.reasons) + when)
                    self.keeper.audit(
                        "rollway", "hold at release gate", reason="; ".join(decision.reasons)
                    )
                timeout = self.release.wait_for(decision)
            else:
                break
            await self._wait_change(timeout)
        self.emergency = decision.path == "emergency"
        await self.release.enter_production()
        self.keeper.log(
            f"release gate open ({decision.path})"
            + (f": {'; '.join(decision.notes)}" if decision.notes else "")
        )

    async def _await_lock(self) -> None:
        """Wait for the service's production lock; a newer commit may supersede us meanwhile."""
        while True:
            lock = self.release.lock
            if lock is not None and lock.status == "granted":
                self.state.lock = "granted"
                if lock.holder is not None and lock.holder not in self.state.supersedes:
                    self.state.supersedes.append(lock.holder)
                    self.keeper.audit("rollway", f"superseded {lock.holder}", reason="newer commit")
                return
            self._check_superseded()
            self._check_abort_or_rollback()
            if (
                lock is not None
                and lock.status == "queued"
                and self.state.lock != f"queued behind {lock.holder}"
            ):
                self.state.lock = f"queued behind {lock.holder}"
                self.keeper.log(f"waiting for the production lock held by {lock.holder}")
            self.changed = False
            await self._wait_change(None)

    def _check_superseded(self) -> None:
        lock = self.release.lock
        if lock is not None and lock.status == "superseded":
            self.state.superseded_by = lock.superseded_by
            raise _Stop(Outcome.SUPERSEDED, f"superseded by {lock.superseded_by}")

    async def _wait_change(self, seconds: float | None) -> None:
        """Until something changes (an approval, a snapshot, a lock) or `seconds` pass."""
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: self.changed or self.abort_request is not None, timeout=seconds
            )

    def _approval_policy(self) -> ApprovalPolicy:
        env_policy = self.spec.environments[self.spec.canary.environment].policy
        if env_policy is not None and (
            env_policy.approvals.required or env_policy.approvals.groups
        ):
            return env_policy.approvals
        return self.spec.approval or ApprovalPolicy(required=0)

    def _approvers(self) -> list[str]:
        return [a.by for a in self.state.approvals if a.decision == "approve"]

    async def canary(self, artifact: str) -> None:
        """The production ramp, cluster by cluster (one wave unless the platform names more)."""
        spec = self.spec.canary
        self.keeper.enter(Stage.CANARY, f"canary in {spec.environment}")
        self.state.canary = CanaryState(
            environment=spec.environment, steps=[s.weight for s in spec.steps]
        )
        clusters = self._clusters()
        self.state.waves = [WaveState(cluster=c) for c in clusters if c is not None]
        done: list[tuple[PlatformInput, str | None]] = []
        for cluster in clusters:
            env = self._platform_input(
                Target(service=self.inp.service, environment=spec.environment, cluster=cluster)
            )
            try:
                previous = await self._wave(env, artifact)
            except _Stop as stop:
                if done:
                    await self._undo_waves(done, stop)
                raise
            done.append((env, previous))
        raise _Stop(Outcome.PROMOTED, self.promoted_reason)

    async def _wave(self, env: PlatformInput, artifact: str) -> str | None:
        """Canary and promotion in one target; returns the stable version it replaced."""
        c = self.state.canary
        assert c is not None
        wave = self._wave_state(env.target)
        before = await self._call("platform_status", env)
        self.state.stable_version = before.stable.version if before.stable else None
        if wave is not None:
            wave.status, wave.version = "canary", self.state.stable_version
        if self.state.stable_version == self.inp.version and before.canary is None:
            self.promoted_reason = f"{self.inp.version} is already the stable version"
            if wave is not None:
                wave.status = "promoted"
            return None
        previous = self.state.stable_version
        status = await self._deploy(env, artifact)
        if status.stable is None:
            self.keeper.log("no stable version yet: the first version goes straight to 100%")
            await self._promote(env)
            return None
        canary_from = workflow.now()
        self.segments = []
        for i, step in enumerate(self.spec.canary.steps):
            if self.abort_request is not None:
                await self._auto_rollback(env, self._abort_reason())
            if self.promote_now:
                break
            c.step = i
            await self._call("set_weight", WeightInput(**env.model_dump(), weight=step.weight))
            self.segments.append(AnalysisSegment(weight=step.weight, started_at=workflow.now()))
            c.weight = step.weight
            if wave is not None:
                wave.weight = step.weight
            self.keeper.log(f"canary at {step.weight}%, soaking {format_duration(step.soak)}")
            reason = await self._soak(env.target, env, step.soak, canary_from)
            if reason is not None:
                await self._auto_rollback(env, reason)
        await self._promote(env)
        return previous

    def _clusters(self) -> list[str | None]:
        """The clusters of the canary environment in rollout order ([None]: just one)."""
        platform = self.spec.environments[self.spec.canary.environment].platform
        if isinstance(platform, KubernetesPlatformConfig) and platform.clusters:
            return [c.name for c in platform.clusters]
        return [None]

    def _wave_state(self, target: Target) -> WaveState | None:
        return next((w for w in self.state.waves if w.cluster == target.cluster), None)

    async def _undo_waves(self, done: list[tuple[PlatformInput, str | None]], stop: _Stop) -> None:
        """A later wave failed: every earlier cluster returns to its previous version."""
        undone = []
        for env, previous in reversed(done):
            await workflow.execute_activity(
                "undo",
                UndoInput(**env.model_dump(), to_version=previous),
                result_type=DeploymentStatus,
                **options.ROLLBACK,
            )
            if (wave := self._wave_state(env.target)) is not None:
                wave.status, wave.version = "undone", previous
            undone.append(f"{env.target.cluster} -> {previous}")
        self.keeper.log("earlier waves returned to their previous version: " + ", ".join(undone))
        stop.reason += f"; earlier waves undone ({', '.join(undone)})"

    # --- canary helpers ---------------------------------------------------------------

    async def _soak(
        self, target: Target, env: PlatformInput, soak: timedelta, canary_from: Any
    ) -> str | None:
        """Soak one step, analysing every interval. Returns a rollback reason or None."""
        analysis = self.spec.canary.analysis
        c = self.state.canary
        assert c is not None
        interval = analysis.interval.total_seconds()
        end = workflow.now() + soak
        need_pass = analysis.active and soak > timedelta(0)
        last: AnalysisResult | None = None
        while True:
            self.changed = False
            remaining = (end - workflow.now()).total_seconds()
            done_soaking = remaining <= 0 and (not need_pass or (last and last.status == "pass"))
            if self.promote_now or self.skip_soak:
                self.skip_soak = False
                return None
            if done_soaking and not c.paused and not self._halted():
                return None
            wait = interval if remaining <= 0 or c.paused else min(interval, remaining)
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(lambda: self.abort_request is not None, timeout=wait)
            if self.abort_request is not None:
                return self._abort_reason()
            if not analysis.active or workflow.now() < canary_from + analysis.initial_delay:
                continue
            last = await self._analyse(target, env, interval)
            if c.consecutive_failures >= analysis.failure_limit:
                self.state.rollback_metrics = [m for m in last.metrics if m.status == "fail"]
                return f"analysis failed {c.consecutive_failures} time(s) in a row: {last.message}"
            if c.consecutive_inconclusive >= analysis.inconclusive_limit and not c.paused:
                c.paused = True
                self.keeper.log(
                    f"paused: analysis inconclusive {c.consecutive_inconclusive} times in a row "
                    f"({last.message}); traffic held at {c.weight}%. Resume with `rollway resume`."
                )

    def _halted(self) -> bool:
        """An active incident holds the canary at its step boundary (analysis stays armed)."""
        inc = self.release.halting_incident() if self.controlled and not self.emergency else None
        c = self.state.canary
        label = f"{inc.severity} {inc.id} (IC {inc.commander})" if inc else None
        if label != self.halt_logged:
            if label is not None and c is not None:
                self.keeper.audit(
                    "rollway", f"halt canary at {c.weight}%", reason=f"incident {label}"
                )
            elif self.halt_logged is not None:
                self.keeper.audit(
                    "rollway", "resume canary", reason=f"incident {self.halt_logged} resolved"
                )
            self.halt_logged = label
            self.state.halted_by = label
        return inc is not None

    async def _analyse(self, target: Target, env: PlatformInput, interval: float) -> AnalysisResult:
        c = self.state.canary
        assert c is not None
        inp = AnalysisInput(
            target=target,
            environment=env.environment,
            canary_version=self.inp.version,
            stable_version=self.state.stable_version,
            weight=c.weight,
            analysis=self.spec.canary.analysis,
            window_s=max(interval, 5.0),
            segments=list(self.segments),
            canary_started_at=self.segments[0].started_at if self.segments else None,
        )
        try:
            result: AnalysisResult = await workflow.execute_activity(
                "analyze", inp, result_type=AnalysisResult, **options.ANALYSIS
            )
        except ActivityError as e:
            result = AnalysisResult(weight=c.weight, status="error", message=_cause(e))
        self.keeper.record_analysis(result)
        if result.status == "fail":
            c.consecutive_failures += 1
            c.consecutive_inconclusive = 0
        elif result.status == "pass":
            c.consecutive_failures = c.consecutive_inconclusive = 0
        else:
            c.consecutive_inconclusive += 1
        return result

    async def _auto_rollback(self, env: PlatformInput, reason: str) -> None:
        self.keeper.enter(Stage.ROLLING_BACK, f"rolling back: {reason}")
        await self._rollback_target(env)
        if self.state.canary:
            self.state.canary.weight = 0
        if (wave := self._wave_state(env.target)) is not None:
            wave.status, wave.weight = "rolled_back", 0
        raise _Stop(Outcome.ROLLED_BACK, reason)

    async def _promote(self, env: PlatformInput) -> None:
        self.keeper.enter(Stage.PROMOTING, f"promoting {self.inp.version} to 100%")
        await self._call("set_weight", WeightInput(**env.model_dump(), weight=100))
        status = await self._call("promote", env)
        if self.state.canary:
            self.state.canary.weight = 100
        retired = self.state.stable_version
        self.state.stable_version = status.stable.version if status.stable else self.inp.version
        if (wave := self._wave_state(env.target)) is not None:
            wave.status, wave.version, wave.weight = "promoted", self.inp.version, 100
        self.promoted_reason = f"{self.inp.version} serves 100%" + (
            f"; {retired} retired" if retired else ""
        )

    # --- activity plumbing ---------------------------------------------------------

    def _platform_input(self, target: Target) -> PlatformInput:
        return PlatformInput(
            target=target, environment=self.spec.environments[target.environment], run=self.spec.run
        )

    async def _deploy(self, env: PlatformInput, artifact: str) -> DeploymentStatus:
        status = await self._call(
            "deploy",
            DeployInput(
                **env.model_dump(),
                version=self.inp.version,
                artifact=artifact,
                commit=self.inp.commit,
            ),
        )
        if status.canary is None:  # already the stable version there
            return status
        ready = self.spec.run.ready_timeout if self.spec.run else timedelta(minutes=5)
        return await self._activity(
            "wait_ready",
            WaitReadyInput(
                **env.model_dump(), version=self.inp.version, timeout_s=ready.total_seconds()
            ),
            DeploymentStatus,
            options.wait_ready_options(ready),
            what="readiness",
            on_error=env,
        )

    async def _call(self, name: str, inp: PlatformInput) -> DeploymentStatus:
        return await self._activity(
            name, inp, DeploymentStatus, options.PLATFORM, what=name.replace("_", " "), on_error=inp
        )

    async def _rollback_target(self, env: PlatformInput) -> None:
        await workflow.execute_activity(
            "rollback", env, result_type=DeploymentStatus, **options.ROLLBACK
        )
        self.keeper.log(f"{env.target.label()}: canary at 0%, stable untouched")

    async def _activity(
        self,
        name: str,
        inp: Any,
        result_type: type[T],
        opts: dict[str, Any],
        *,
        what: str,
        on_error: PlatformInput | None = None,
    ) -> T:
        """Run an activity; a failure (or an abort meanwhile) ends the promotion cleanly."""
        task = asyncio.ensure_future(
            workflow.execute_activity(name, inp, result_type=result_type, **opts)
        )
        await workflow.wait_condition(lambda: task.done() or self.abort_request is not None)
        if not task.done():
            task.cancel()
        try:
            result: T = await task
        except (ActivityError, asyncio.CancelledError) as e:
            if on_error is not None:
                await self._rollback_target(on_error)
            self._check_abort_or_rollback()
            raise _Stop(Outcome.FAILED, f"{what} failed: {_cause(e)}") from None
        if self.abort_request is not None and on_error is not None:
            await self._rollback_target(on_error)
        self._check_abort_or_rollback()
        return result

    def _check_abort_or_rollback(self) -> None:
        a = self.abort_request
        if a is None:
            return
        in_canary = self.state.stage in (Stage.CANARY, Stage.ROLLING_BACK)
        outcome = Outcome.ROLLED_BACK if in_canary else Outcome.ABORTED
        raise _Stop(
            outcome,
            f"{'rolled back' if in_canary else 'aborted'} by {a.by}"
            + (f": {a.reason}" if a.reason else ""),
        )

    def _abort_reason(self) -> str:
        a = self.abort_request
        assert a is not None
        return f"manual rollback by {a.by}" + (f": {a.reason}" if a.reason else "")

    def _approvals(self) -> int:
        return len([a for a in self.state.approvals if a.decision == "approve"])

    def _rejected(self) -> ApprovalRecord | None:
        return next((a for a in self.state.approvals if a.decision == "reject"), None)

    # --- humans: signals, updates, queries ----------------------------------------------

    def _refusal(self, inp: ApprovalInput, kind: str = "approve") -> str | None:
        if self.state.outcome != Outcome.RUNNING:
            return f"the promotion has ended ({self.state.outcome.value})"
        if self.controlled:
            return self._policy_refusal(inp, kind)
        if self.state.stage != Stage.APPROVAL:
            return f"the promotion is not awaiting approval (stage: {self.state.stage.value})"
        if any(a.by == inp.by for a in self.state.approvals):
            return f"{inp.by} has already decided on this promotion"
        return None

    def _policy_refusal(self, inp: ApprovalInput, kind: str) -> str | None:
        """The release policy's approval rules (groups, separation of duties, quorum)."""
        awaiting = self.state.stage in (Stage.APPROVAL, Stage.GATE)
        if awaiting and self.release.emergency_approved([inp.by]) and kind == "approve":
            return None  # the incident commander's emergency approval
        check = check_approval(
            self._approval_policy(),
            self.directory,
            by=inp.by,
            author=self.inp.author,
            already_approved_by=[a.by for a in self.state.approvals],
            kind=kind,  # type: ignore[arg-type]
            awaiting=awaiting,
            extra_requirements=self.extras,
        )
        return None if check.accepted else check.reason

    def _decide(self, inp: ApprovalInput, decision: str) -> PromotionState:
        refusal = self._refusal(inp, decision)
        if refusal is not None:
            if self.controlled:
                self.keeper.audit(inp.by, decision, accepted=False, reason=refusal)
            else:
                self.keeper.log(f"{decision} refused: {refusal}", by=inp.by)
            return self.state
        self.state.approvals.append(
            ApprovalRecord(
                by=inp.by,
                at=workflow.now(),
                decision=decision,
                comment=inp.comment,
            )
        )
        if self.controlled:
            self.keeper.audit(inp.by, decision, reason=inp.comment)
            self.changed = True
        else:
            self.keeper.log(f"{decision}d" + (f": {inp.comment}" if inp.comment else ""), by=inp.by)
        return self.state

    @workflow.signal(name="approve")
    def approve_signal(self, inp: ApprovalInput) -> None:
        self._decide(inp, "approve")

    @workflow.signal(name="reject")
    def reject_signal(self, inp: ApprovalInput) -> None:
        self._decide(inp, "reject")

    @workflow.update(name="approve")
    def approve_update(self, inp: ApprovalInput) -> PromotionState:
        return self._decide(inp, "approve")

    @approve_update.validator
    def _validate_approve(self, inp: ApprovalInput) -> None:
        if (refusal := self._refusal(inp, "approve")) is not None:
            raise ApplicationError(f"approval refused: {refusal}", type="ApprovalRefused")

    @workflow.update(name="reject")
    def reject_update(self, inp: ApprovalInput) -> PromotionState:
        return self._decide(inp, "reject")

    @reject_update.validator
    def _validate_reject(self, inp: ApprovalInput) -> None:
        if (refusal := self._refusal(inp, "reject")) is not None:
            raise ApplicationError(f"rejection refused: {refusal}", type="ApprovalRefused")

    def _request_abort(self, inp: ActionInput) -> None:
        if self.abort_request is None and self.state.outcome == Outcome.RUNNING:
            self.abort_request = inp
            if self.controlled:
                self.keeper.audit(inp.by, "rollback", reason=inp.reason or "no reason given")
            else:
                self.keeper.log(f"rollback requested: {inp.reason or 'no reason given'}", by=inp.by)

    @workflow.signal(name="abort")
    def abort_signal(self, inp: ActionInput) -> None:
        self._request_abort(inp)

    @workflow.signal(name="rollback")
    def rollback_signal(self, inp: ActionInput) -> None:
        self._request_abort(inp)

    @workflow.update(name="rollback")
    async def rollback_update(self, inp: ActionInput) -> PromotionState:
        self._request_abort(inp)
        await workflow.wait_condition(lambda: self.state.outcome != Outcome.RUNNING)
        return self.state

    @rollback_update.validator
    def _validate_rollback(self, inp: ActionInput) -> None:
        if self.state.outcome != Outcome.RUNNING:
            raise ApplicationError(
                f"nothing to roll back: the promotion has ended ({self.state.outcome.value})",
                type="NotRunning",
            )

    @workflow.signal(name="pause")
    def pause_signal(self, inp: ActionInput) -> None:
        if self.state.canary is not None and not self.state.canary.paused:
            self.state.canary.paused = True
            self.keeper.log(f"paused: {inp.reason or 'no reason given'}", by=inp.by)

    @workflow.signal(name="resume")
    def resume_signal(self, inp: ActionInput) -> None:
        if self.state.canary is not None and self.state.canary.paused:
            self.state.canary.paused = False
            self.state.canary.consecutive_inconclusive = 0
            self.keeper.log("resumed", by=inp.by)

    # --- release control and incident-commander overrides ----------------------------------

    @workflow.signal(name="release_control")
    def on_release_control(self, snap: ControlSnapshot) -> None:
        self.release.on_snapshot(snap)
        self.changed = True

    @workflow.signal(name="release_control_ping")
    def on_ping(self, _: str) -> None:
        """Release control checks that a lock holder still exists; nothing to do."""

    @workflow.signal(name="lock")
    def on_lock(self, decision: LockDecision) -> None:
        self.release.on_lock(decision)
        self.changed = True

    def _override_refusal(self, inp: OverrideInput) -> str | None:
        if not self.controlled:
            return "this promotion predates overrides"
        if self.state.outcome != Outcome.RUNNING:
            return f"the promotion has ended ({self.state.outcome.value})"
        if self.release.snapshot.commander_of(inp.by) is not None:
            return None
        if self.directory.is_member(inp.by, "release-manager"):
            return None
        active = ", ".join(f"{i.id} (IC {i.commander})" for i in self.release.snapshot.incidents)
        return (
            f"{inp.by} may not override: only an active incident's commander "
            f"({active or 'no active incident'}) or a member of 'release-manager' may"
        )

    def _apply_override(self, inp: OverrideInput) -> PromotionState:
        refusal = self._override_refusal(inp)
        if refusal is not None:
            self.keeper.audit(inp.by, f"override {inp.kind}", accepted=False, reason=refusal)
            return self.state
        self.keeper.audit(inp.by, f"override {inp.kind}", reason=inp.reason)
        if inp.kind == "bypass_gate":
            self.bypass_by = inp.by
        elif inp.kind == "rollback":
            self._request_abort(ActionInput(by=inp.by, reason=f"override: {inp.reason}"))
        elif inp.kind in ("pause", "resume"):
            (self.pause_signal if inp.kind == "pause" else self.resume_signal)(
                ActionInput(by=inp.by, reason=inp.reason)
            )
        elif inp.kind == "skip_soak":
            self.skip_soak = True
        elif inp.kind == "promote_now":
            self.promote_now = True
        self.changed = True
        return self.state

    @workflow.update(name="override")
    def override_update(self, inp: OverrideInput) -> PromotionState:
        return self._apply_override(inp)

    @override_update.validator
    def _validate_override(self, inp: OverrideInput) -> None:
        if (refusal := self._override_refusal(inp)) is not None:
            raise ApplicationError(f"override refused: {refusal}", type="OverrideRefused")

    @workflow.signal(name="override")
    def override_signal(self, inp: OverrideInput) -> None:
        self._apply_override(inp)

    @workflow.query(name="state")
    def query_state(self) -> PromotionState:
        return self.state
