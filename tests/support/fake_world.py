"""Test activities with the production names, over an in-memory platform.

Each test gets a `FakeWorld`: it scripts analysis verdicts and failures and
records every call, so a test asserts the order of stages and the traffic
the workflow asked for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.catalog import load_with
from activities.decisions import verify_decision_signature
from activities.incidents import open_incident as real_open_incident
from activities.monitor import declare_monitor_incident
from activities.monitor import run_health_checks as real_run_health_checks
from activities.release_control import ensure_release_control, read_release_control
from rollway.checks.models import CheckInput, CheckResult
from rollway.incidents.report import OpenIncidentInput, OpenIncidentResult
from rollway.migrations.models import MigrateInput, MigrateResult, Refusal
from rollway.models import (
    AnalysisInput,
    AnalysisResult,
    ArchiveInput,
    ArgoCDSyncResult,
    ArgoSyncInput,
    AuditRecordRef,
    BuildInput,
    BuildResult,
    DeployInput,
    ImageRef,
    LoadedPipeline,
    LoadPipelineInput,
    MetricResult,
    PlatformInput,
    ResolveImageInput,
    ScanInput,
    ScanVerdict,
    SmokeInput,
    SmokeResult,
    UndoInput,
    WaitReadyInput,
    WeightInput,
)
from rollway.monitor.report import CheckResults, ChecksInput
from rollway.notify.events import NotifyInput, NotifyResult
from rollway.platform.base import DeploymentStatus, Target, VersionStatus
from rollway.policy import GroupDirectory
from rollway.release_control import ControlPolicy
from rollway.rollback import FindReleasesInput, ReleaseHistory
from rollway.spec_catalog import CatalogConfig
from tests.support.binaries import ROOT

DEV_CATALOG = CatalogConfig(folder=ROOT / "pipelines", allow_inline=True)
"""The repo's pipelines/, and inline specs accepted: a development worker, like `rollway up`."""
TEST_OWNERS = ("alice", "bob", "carol", "dave", "eve", "ops", "chaos")


@dataclass
class FakeWorld:
    stable: dict[str, str] = field(default_factory=lambda: {"staging": "v1", "production": "v1"})
    canary: dict[str, str] = field(default_factory=dict)
    weight: dict[str, int] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    verdicts: list[str] = field(default_factory=list)  # consumed one per analysis; then "pass"
    fail: dict[str, str] = field(default_factory=dict)  # activity name -> error message
    fail_times: dict[str, int] = field(default_factory=dict)  # name -> failures left (retryable)
    fail_cause: dict[str, str] = field(default_factory=dict)  # name -> the OS error under `fail`
    scan_passed: bool = True
    # The worker's groups file: by default the test pipelines' owners (`owners: [demo-owners]`)
    # are the people the workflow tests abort, pause and roll back as.
    groups: dict[str, list[str]] = field(
        default_factory=lambda: {
            "demo-owners": list(TEST_OWNERS),
            "on-call": ["pager"],
            "release-manager": ["rm-rita"],
        }
    )
    control_unsigned: bool = True  # ROLLWAY_UNSIGNED_CONTROL covers every environment
    promote_gate: asyncio.Event | None = None  # `promote` waits for it (an abort mid-call)
    ready_gate: asyncio.Event | None = None  # `wait_ready` waits for it (overlapping promotions)
    writes: list[tuple[str, str, str]] = field(default_factory=list)  # (call, target, version)
    stable_artifact: dict[str, str] = field(default_factory=dict)  # target -> its artifact
    canary_artifact: dict[str, str] = field(default_factory=dict)
    notified: list[NotifyInput] = field(default_factory=list)  # `notify` calls, in order
    releases: ReleaseHistory = field(default_factory=ReleaseHistory)  # what find_releases says
    catalog: CatalogConfig = DEV_CATALOG  # the real catalog code loads from it
    migration_refusals: list[Refusal] = field(default_factory=list)  # the guard's verdict
    check_results: dict[str, CheckResult] = field(default_factory=dict)  # suite -> result

    def key(self, target: Target) -> str:
        """`production`, or `production@eu-west-1` for one cluster of a wave."""
        return target.label().split("/", 1)[1]

    def status(self, target: Target) -> DeploymentStatus:
        env = self.key(target)
        stable = self.stable.get(env, self.stable.get(target.environment))
        canary = self.canary.get(env)
        w = self.weight.get(env, 0)
        return DeploymentStatus(
            target=target,
            stable=VersionStatus(
                version=stable,
                role="stable",
                ready=True,
                weight=100 - w,
                artifact=self.stable_artifact.get(env, ""),
            )
            if stable
            else None,
            canary=VersionStatus(
                version=canary,
                role="canary",
                ready=True,
                weight=w,
                endpoint="http://canary",
                artifact=self.canary_artifact.get(env, ""),
            )
            if canary
            else None,
            frontend_url="http://frontend",
        )

    def _maybe_fail(self, name: str) -> None:
        if name in self.fail:
            if name in self.fail_cause:  # as activities/errors.py wraps a platform's OS error
                raise ApplicationError(
                    self.fail[name], type="PlatformError", non_retryable=True
                ) from ConnectionRefusedError(self.fail_cause[name])
            raise ApplicationError(self.fail[name], non_retryable=True)
        if self.fail_times.get(name, 0) > 0:
            self.fail_times[name] -= 1
            raise ApplicationError(f"{name}: platform unavailable (scripted)")

    def activities(self) -> list[Callable[..., Any]]:
        world = self

        @activity.defn(name="load_pipeline")
        async def load_pipeline(inp: LoadPipelineInput) -> LoadedPipeline:
            return load_with(world.catalog, inp)  # the real loader, over `world.catalog`

        @activity.defn(name="build")
        async def build(inp: BuildInput) -> BuildResult:
            world.calls.append("build")
            world._maybe_fail("build")
            return BuildResult(artifact=f"/artifacts/{inp.version}")

        @activity.defn(name="scan_gate")
        async def scan_gate(inp: ScanInput) -> ScanVerdict:
            world.calls.append("scan_gate")
            if world.scan_passed:
                return ScanVerdict(passed=True, summary="0 blocking", evaluated_at=inp.now)
            return ScanVerdict(
                passed=False, summary="1 blocking: B602 (critical)", evaluated_at=inp.now
            )

        @activity.defn(name="deploy")
        async def deploy(inp: DeployInput) -> DeploymentStatus:
            env = world.key(inp.target)
            world.calls.append(f"deploy:{env}")
            world.writes.append(("deploy", env, inp.version))
            world._maybe_fail(f"deploy:{env}")
            stable = world.stable.get(env, world.stable.get(inp.target.environment))
            built_from = world.stable_artifact.get(env, "")
            if stable != inp.version or built_from not in ("", inp.artifact):  # a new build
                world.canary[env] = inp.version
                world.canary_artifact[env] = inp.artifact
                world.weight[env] = 0
            return world.status(inp.target)

        @activity.defn(name="wait_ready")
        async def wait_ready(inp: WaitReadyInput) -> DeploymentStatus:
            world.calls.append(f"wait_ready:{world.key(inp.target)}")
            if world.ready_gate is not None:
                await world.ready_gate.wait()
            world._maybe_fail("wait_ready")
            return world.status(inp.target)

        @activity.defn(name="set_weight")
        async def set_weight(inp: WeightInput) -> DeploymentStatus:
            env = world.key(inp.target)
            world.calls.append(f"weight:{env}:{inp.weight}")
            world.weight[env] = inp.weight
            return world.status(inp.target)

        @activity.defn(name="promote")
        async def promote(inp: PlatformInput) -> DeploymentStatus:
            env = world.key(inp.target)
            world.calls.append(f"promote:{env}")
            if world.promote_gate is not None:
                await world.promote_gate.wait()
            world.writes.append(("promote", env, world.canary.get(env, "")))
            if env in world.canary:
                world.stable[env] = world.canary.pop(env)
                world.stable_artifact[env] = world.canary_artifact.pop(env, "")
                world.weight[env] = 0
            return world.status(inp.target)

        @activity.defn(name="rollback")
        async def rollback(inp: PlatformInput) -> DeploymentStatus:
            env = world.key(inp.target)
            world.calls.append(f"rollback:{env}")
            world._maybe_fail("rollback")
            world.canary.pop(env, None)
            world.canary_artifact.pop(env, None)
            world.weight[env] = 0
            return world.status(inp.target)

        @activity.defn(name="undo")
        async def undo(inp: UndoInput) -> DeploymentStatus:
            env = world.key(inp.target)
            world.calls.append(f"undo:{env}:{inp.to_version}")
            if inp.to_version:
                world.stable[env] = inp.to_version
            return world.status(inp.target)

        @activity.defn(name="argocd_sync")
        async def argocd_sync(inp: ArgoSyncInput) -> ArgoCDSyncResult:
            env = world.key(inp.target)
            world.calls.append(f"argocd_sync:{env}:{inp.revision}")
            return ArgoCDSyncResult(
                application=f"{inp.target.service}-{env}",
                namespace="argocd",
                revision=inp.revision,
                synced_revision=inp.revision,
                sync_status="Synced",
                health_status="Healthy",
            )

        @activity.defn(name="resolve_image")
        async def resolve_image(inp: ResolveImageInput) -> ImageRef:
            world.calls.append("resolve_image")
            uri = f"123456789012.dkr.ecr.{inp.image.region}.amazonaws.com/{inp.image.repository}"
            digest = "sha256:" + "ab" * 32
            return ImageRef(
                registry_id="123456789012",
                repository=inp.image.repository,
                repository_uri=uri,
                tag=inp.commit,
                digest=digest,
                reference=f"{uri}@{digest}",
            )

        @activity.defn(name="archive_audit")
        async def archive_audit(inp: ArchiveInput) -> AuditRecordRef:
            world.calls.append("archive_audit")
            key = f"{inp.audit.prefix}/{inp.service}/{inp.workflow_id}.json"
            return AuditRecordRef(
                bucket=inp.audit.bucket,
                key=key,
                uri=f"s3://{inp.audit.bucket}/{key}",
                sha256="0" * 64,
                written=True,
                sse="AES256",
            )

        @activity.defn(name="platform_status")
        async def platform_status(inp: PlatformInput) -> DeploymentStatus:
            return world.status(inp.target)

        @activity.defn(name="smoke_test")
        async def smoke_test(inp: SmokeInput) -> SmokeResult:
            world.calls.append("smoke")
            world._maybe_fail("smoke")
            return SmokeResult(passed=True, results=["GET /healthz: ok"])

        @activity.defn(name="load_groups")
        async def load_groups(service: str) -> GroupDirectory:
            return GroupDirectory(groups=world.groups)

        @activity.defn(name="open_incident")
        async def open_incident(inp: OpenIncidentInput) -> OpenIncidentResult:
            """The real activity (it only speaks HTTP to the sinks the pipeline names)."""
            world.calls.append("open_incident")
            return await asyncio.to_thread(real_open_incident, inp)

        @activity.defn(name="run_health_checks")
        async def run_health_checks(inp: ChecksInput) -> CheckResults:
            """The real checks (they only reach what the monitor names)."""
            world.calls.append("run_health_checks")
            return await asyncio.to_thread(real_run_health_checks, inp)

        @activity.defn(name="find_releases")
        async def find_releases(inp: FindReleasesInput) -> ReleaseHistory:
            world.calls.append("find_releases")
            return world.releases

        @activity.defn(name="load_control_policy")
        async def load_control_policy(environment: str) -> ControlPolicy:
            return ControlPolicy(
                groups=GroupDirectory(groups=world.groups), unsigned_accepted=world.control_unsigned
            )

        @activity.defn(name="analyze")
        async def analyze(inp: AnalysisInput) -> AnalysisResult:
            verdict = world.verdicts.pop(0) if world.verdicts else "pass"
            world.calls.append(f"analyze:{inp.weight}:{verdict}")
            metric = MetricResult(
                name="success-rate",
                status=verdict,
                value=0.9 if verdict == "fail" else (None if verdict == "inconclusive" else 0.999),
                min=0.99,
            )
            return AnalysisResult(
                weight=inp.weight,
                status=verdict,
                metrics=[metric],
                message=f"success-rate {verdict}",
            )

        @activity.defn(name="notify")
        async def notify(inp: NotifyInput) -> NotifyResult:
            world.notified.append(inp)
            return NotifyResult()

        @activity.defn(name="migrate")
        async def migrate(inp: MigrateInput) -> MigrateResult:
            world.calls.append(f"migrate:{inp.environment}")
            world._maybe_fail("migrate")
            if world.migration_refusals:
                return MigrateResult(environment=inp.environment, refusals=world.migration_refusals)
            return MigrateResult(environment=inp.environment, applied=["0001_init.sql"])

        @activity.defn(name="run_check")
        async def run_check(inp: CheckInput) -> CheckResult:
            world.calls.append(f"check:{inp.suite.name}")
            world._maybe_fail(f"check:{inp.suite.name}")
            default = CheckResult(name=inp.suite.name, exit_code=0, tests=10)
            return world.check_results.get(inp.suite.name, default)

        return [
            load_pipeline,
            build,
            scan_gate,
            deploy,
            wait_ready,
            set_weight,
            promote,
            rollback,
            platform_status,
            smoke_test,
            analyze,
            load_groups,
            find_releases,
            load_control_policy,
            verify_decision_signature,  # the real one: reads $ROLLWAY_ALLOWED_SIGNERS
            ensure_release_control,
            read_release_control,
            undo,
            argocd_sync,
            resolve_image,
            archive_audit,
            open_incident,
            run_health_checks,
            declare_monitor_incident,
            notify,
            migrate,
            run_check,
        ]
