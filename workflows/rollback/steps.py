"""The rollback's steps: take the lock, choose the target, move traffic, verify, record.

Every platform write goes through the same activities promotions use
(`platform_status`, `deploy`, `wait_ready`, `set_weight`, `promote`, `rollback`),
with the promotions' options, so a platform's idempotence and retry contract holds.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from rollway.durations import format_duration
    from rollway.models import (
        AnalysisInput,
        AnalysisResult,
        AnalysisSegment,
        DeployInput,
        LoadedPipeline,
        LoadPipelineInput,
        Outcome,
        PlatformInput,
        SmokeInput,
        SmokeResult,
        Stage,
        WaitReadyInput,
        WeightInput,
    )
    from rollway.platform.base import DeploymentStatus
    from rollway.policy import GroupDirectory
    from rollway.rollback import (
        RELEASE_MANAGER,
        FindReleasesInput,
        ReleaseHistory,
        VerifiedRelease,
        pick_target,
    )
    from rollway.security.authorization import accepts_unsigned, action_refusal
    from rollway.spec import SmokeCheck
    from workflows.promotion import options
    from workflows.promotion.artifact import LOAD_PIPELINE
    from workflows.promotion.context import Stop, cause
    from workflows.rollback.context import Rollback

T = TypeVar("T")

ANSWER_TIMEOUT = timedelta(seconds=60)
"""How long release control may take to answer a lock request at all."""


async def _run(name: str, inp: Any, result_type: type[T], opts: dict[str, Any], what: str) -> T:
    try:
        result: T = await workflow.execute_activity(name, inp, result_type=result_type, **opts)
    except ActivityError as e:
        raise Stop(Outcome.FAILED, f"{what} failed: {cause(e)}") from None
    return result


async def load_pipeline(r: Rollback) -> None:
    """Activity `load_pipeline`, as promotions do: the pipeline from the worker's catalog.

    The rollback starts the target with the pipeline's run command, so the pipeline is
    never taken from the input: an inline one counts only on a development worker.
    """
    inp = r.inp
    name = "inline" if inp.pipeline is not None else (inp.pipeline_name or inp.service)
    r.state.pipeline = "" if inp.pipeline is not None else name
    try:
        loaded = await workflow.execute_activity(
            "load_pipeline",
            LoadPipelineInput(service=inp.service, name=inp.pipeline_name, inline=inp.pipeline),
            result_type=LoadedPipeline,
            **LOAD_PIPELINE,
        )
    except ActivityError as e:
        r.keeper.audit("rollway", f"load pipeline {name}", accepted=False, reason=cause(e))
        raise Stop(Outcome.FAILED, f"pipeline refused: {cause(e)}") from None
    if inp.environment not in loaded.spec.environments:
        known = ", ".join(loaded.spec.environments)
        raise Stop(
            Outcome.FAILED, f"{inp.environment} is not an environment of the pipeline ({known})"
        )
    r.use_spec(loaded.spec)
    r.state.pipeline_digest = loaded.digest
    r.state.pipeline_source = loaded.source
    r.keeper.audit(
        "rollway", f"load pipeline {name}", reason=f"{loaded.digest} from {loaded.source}"
    )


async def authorize(r: Rollback) -> None:
    """Who asks, proven and allowed: signed unless the environment accepts unsigned
    decisions, and an owner of the service or a release manager (groups file)."""
    inp = r.inp
    env = inp.environment
    unsigned_ok = accepts_unsigned(r.spec, env)
    r.state.unsigned_decisions = {env: "accepted" if unsigned_ok else "refused"}
    auth = await r.guard.authenticate(
        signed=inp.signed,
        by=inp.by,
        action="rollback",
        comment=inp.reason,
        unsigned_accepted=unsigned_ok,
        where=env,
    )
    if auth.refusal is not None:
        r.keeper.audit(inp.by, "rollback", accepted=False, reason=auth.refusal)
        raise Stop(Outcome.REJECTED, f"refused: {auth.refusal}")
    r.directory = await _run(
        "load_groups", inp.service, GroupDirectory, options.ANALYSIS, "reading the groups file"
    )
    refusal = action_refusal(
        r.directory, inp.by, "rollback", owners=r.spec.owners, commander_of=None
    )
    if refusal is not None:
        r.keeper.audit(inp.by, "rollback", accepted=False, reason=refusal)
        raise Stop(Outcome.REJECTED, f"refused: {refusal}")
    r.keeper.audit(inp.by, "rollback", reason=f"{inp.reason or 'no reason given'} ({auth.how})")


async def _platform(name: str, inp: PlatformInput) -> DeploymentStatus:
    return await _run(
        name,
        inp,
        DeploymentStatus,
        options.PLATFORM_CALL,
        f"{name.replace('_', ' ')} of {inp.target.label()}",
    )


# --- the lock --------------------------------------------------------------------------


async def take_lock(r: Rollback) -> None:
    """The service's environment lock; refuse (naming the holder) after `lock_timeout`."""
    inp = r.inp
    r.keeper.enter(Stage.GATE, f"asking for the {inp.environment} lock of {inp.service}")
    await r.lock.request(commit=f"rollback-{inp.to_version or 'previous'}")
    asked = workflow.now()
    deadline = asked + inp.lock_timeout
    logged: str | None = None
    while True:
        await r.lock.wait((deadline - workflow.now()).total_seconds())
        decision = await r.lock.read()
        if decision is None:
            if workflow.now() - asked > ANSWER_TIMEOUT:
                raise Stop(
                    Outcome.FAILED,
                    f"release control {r.lock.control_id} did not answer the lock request "
                    f"within {format_duration(ANSWER_TIMEOUT)}",
                )
            continue
        if decision.status == "granted":
            r.state.lock = "granted"
            r.keeper.log(f"holds the {inp.environment} lock of {inp.service}")
            return
        if decision.status == "superseded":
            raise Stop(
                Outcome.REJECTED,
                f"refused: the {inp.environment} lock went to {decision.superseded_by}",
            )
        holder = decision.holder or "another workflow"
        r.state.lock = f"queued behind {holder}"
        if workflow.now() >= deadline:
            raise Stop(Outcome.REJECTED, _busy(r, holder))
        if logged != holder:
            logged = holder
            r.keeper.log(
                f"waiting up to {format_duration(inp.lock_timeout)} for the "
                f"{inp.environment} lock held by {holder}"
            )


def _busy(r: Rollback, holder: str) -> str:
    inp = r.inp
    waited = f" after waiting {format_duration(inp.lock_timeout)}" if inp.lock_timeout else ""
    advice = (
        f"roll that promotion back with `rollway rollback {holder}`, or wait for it (--wait 10m)"
        if holder.startswith("promote-")
        else "wait for it to finish (--wait 10m)"
    )
    return (
        f"refused: the {inp.environment} lock of {inp.service} is held by {holder}{waited}; "
        f"{advice}"
    )


# --- the target ------------------------------------------------------------------------


async def choose_target(r: Rollback) -> VerifiedRelease:
    """Activity `find_releases`, then the target by `pick_target`; force only by a release manager."""
    inp = r.inp
    history = await _run(
        "find_releases",
        FindReleasesInput(service=inp.service, environment=inp.environment),
        ReleaseHistory,
        options.ANALYSIS,
        "reading the promoted releases",
    )
    first = r.targets()[0]
    status = await _platform("platform_status", first)
    current = status.stable.version if status.stable else None
    r.state.from_version = r.state.stable_version = current
    pick = pick_target(history, current, inp.to_version)
    if pick.release is None:
        raise Stop(Outcome.REJECTED, f"refused: {pick.refusal}")
    target = pick.release
    if pick.needs_force:
        await _check_force(r, target, pick.refusal or "")
    if not target.artifact:
        raise Stop(
            Outcome.FAILED,
            f"{target.version} has no recorded artifact ({target.workflow_id}): "
            "promote it again instead",
        )
    r.state.target = target
    r.state.version, r.state.commit, r.state.artifact = (
        target.version,
        target.commit,
        target.artifact,
    )
    r.keeper.log(
        f"target {target.version} ({target.commit[:12]}): {target.how}; "
        f"{current or 'nothing'} serves now"
    )
    return target


async def _check_force(r: Rollback, target: VerifiedRelease, refusal: str) -> None:
    inp = r.inp
    action = f"force rollback to {target.version}"
    if not inp.force:
        raise Stop(
            Outcome.REJECTED,
            f"refused: {refusal}; a member of '{RELEASE_MANAGER}' may force it "
            f"(--force --by <name>)",
        )
    directory = r.directory
    if directory is None:  # histories from before the rollback was authorized
        directory = await _run(
            "load_groups", inp.service, GroupDirectory, options.ANALYSIS, "reading the groups file"
        )
    if not directory.is_member(inp.by, RELEASE_MANAGER):
        r.keeper.audit(
            inp.by, action, accepted=False, reason=f"{inp.by} is not in '{RELEASE_MANAGER}'"
        )
        raise Stop(
            Outcome.REJECTED,
            f"refused: only a member of '{RELEASE_MANAGER}' may force a rollback to a "
            f"release that never passed a canary; {inp.by} is not ({refusal})",
        )
    r.state.forced = True
    r.keeper.audit(inp.by, action, reason=f"{refusal}; {inp.reason}".rstrip("; "))


# --- traffic ---------------------------------------------------------------------------


def smoke_checks(r: Rollback) -> list[SmokeCheck]:
    """The pipeline's smoke checks (its staging stage), else its health path."""
    if r.spec.staging is not None and r.spec.staging.smoke:
        return r.spec.staging.smoke
    return [SmokeCheck(path=r.spec.run.health_path if r.spec.run else "/healthz")]


async def _smoke(r: Rollback, base_url: str, what: str) -> SmokeResult:
    retries = r.spec.staging.retries if r.spec.staging is not None else 3
    return await _run(
        "smoke_test",
        SmokeInput(base_url=base_url, checks=smoke_checks(r), retries=retries),
        SmokeResult,
        options.SMOKE,
        what,
    )


async def move_traffic(r: Rollback, env: PlatformInput, target: VerifiedRelease) -> None:
    """Start the target at 0 %, smoke-test it directly, then give it 100 % and retire the other."""
    label = env.target.label()
    status = await _platform("platform_status", env)
    if status.canary is not None and status.canary.version != target.version:
        await _platform("rollback", env)  # a leftover canary: out first (stable untouched)
        r.keeper.log(f"{label}: leftover canary {status.canary.version} taken out")
    if status.stable is not None and status.stable.version == target.version:
        r.keeper.log(f"{label}: {target.version} already serves all traffic")
        return
    assert target.artifact is not None
    started = await _platform(
        "deploy",
        DeployInput(
            **env.model_dump(),
            version=target.version,
            artifact=target.artifact,
            commit=target.commit,
        ),
    )
    if started.canary is None:  # the platform says it already is the stable there
        r.keeper.log(f"{label}: {target.version} already serves all traffic")
        return
    ready = r.spec.run.ready_timeout if r.spec.run else timedelta(minutes=5)
    try:
        canary = await _run(
            "wait_ready",
            WaitReadyInput(
                **env.model_dump(), version=target.version, timeout_s=ready.total_seconds()
            ),
            DeploymentStatus,
            options.wait_ready_options(ready),
            f"{label}: starting {target.version}",
        )
        endpoint = canary.canary.endpoint if canary.canary else None
        smoke = await _smoke(
            r, endpoint or canary.frontend_url or "", f"{label}: smoke checks of {target.version}"
        )
    except Stop as stop:
        await _platform("rollback", env)  # traffic never moved: take the target out again
        stop.reason += f"; traffic untouched on {r.state.from_version}"
        raise
    r.keeper.log(
        f"{label}: {target.version} ready, smoke checks passed: " + ", ".join(smoke.results)
    )
    await _platform("set_weight", WeightInput(**env.model_dump(), weight=100))
    r.state.traffic_moved_at = workflow.now()
    r.keeper.log(f"{label}: {target.version} serves 100% of traffic")
    done = await _platform("promote", env)
    retired = f"; {r.state.from_version} retired" if r.state.from_version else ""
    r.keeper.log(f"{label}: {target.version} is stable{retired}")
    r.state.stable_version = done.stable.version if done.stable else target.version


# --- verification ----------------------------------------------------------------------


async def verify(r: Rollback, env: PlatformInput, target: VerifiedRelease) -> None:
    """Smoke checks through the front door, then the pipeline's metrics on the target alone."""
    label = env.target.label()
    status = await _platform("platform_status", env)
    if status.frontend_url:
        try:
            smoke = await _smoke(r, status.frontend_url, f"{label}: smoke checks after the switch")
        except Stop as stop:
            r.state.verification = "failed"
            raise Stop(Outcome.FAILED, f"{target.version} serves 100% but {stop.reason}") from None
        r.keeper.log(
            f"{label}: smoke checks through the front door passed: " + ", ".join(smoke.results)
        )
    analysis = r.spec.canary.analysis
    if not analysis.metrics:
        r.state.verification = "skipped"
        r.keeper.log("no metrics in the pipeline: verified by smoke checks only")
        return
    spec = analysis.model_copy(update={"judge": "threshold"})  # absolute bounds, no baseline
    interval = analysis.interval.total_seconds()
    moved = r.state.traffic_moved_at or workflow.now()
    last: AnalysisResult | None = None
    delay = max(analysis.initial_delay.total_seconds(), interval)
    for attempt in range(1, r.inp.verify_attempts + 1):
        await workflow.sleep(delay if attempt == 1 else interval)
        try:
            last = await workflow.execute_activity(
                "analyze",
                AnalysisInput(
                    target=env.target,
                    environment=env.environment,
                    canary_version=target.version,
                    stable_version=None,
                    weight=100,
                    analysis=spec,
                    window_s=max(interval, 5.0),
                    segments=[AnalysisSegment(weight=100, started_at=moved)],
                    canary_started_at=moved,
                ),
                result_type=AnalysisResult,
                **options.ANALYSIS,
            )
        except ActivityError as e:
            last = AnalysisResult(weight=100, status="error", message=cause(e))
        last.at = workflow.now()
        r.keeper.log(
            f"{label}: verification {attempt}/{r.inp.verify_attempts}: {last.status}: {last.message}"
        )
        if last.status == "pass":
            r.state.verification = "passed"
            return
        if last.status == "fail":
            r.state.verification = "failed"
            r.state.rollback_metrics = [m for m in last.metrics if m.status == "fail"]
            raise Stop(
                Outcome.FAILED,
                f"{target.version} serves 100% but its metrics fail: {last.message}",
            )
    r.state.verification = "inconclusive"
    r.keeper.log(
        f"{label}: metrics inconclusive after {r.inp.verify_attempts} analyses"
        + (f" ({last.message})" if last else "")
    )


async def record_traffic(r: Rollback) -> None:
    """What really serves each target at the end (the platform is the truth)."""
    for env in r.targets():
        try:
            status = await workflow.execute_activity(
                "platform_status", env, result_type=DeploymentStatus, **options.PLATFORM_CALL
            )
        except ActivityError as e:
            r.keeper.log(f"{env.target.label()}: could not read what serves traffic: {cause(e)}")
            continue
        r.state.traffic[env.target.label()] = {
            v.version: v.weight for v in (status.stable, status.canary) if v is not None
        }
        if status.stable is not None:
            r.state.stable_version = status.stable.version
