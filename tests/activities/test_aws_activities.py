"""The AWS activities against moto's server, driven by `ActivityEnvironment`.

The activities build their clients from the worker's environment (`worker_env`:
`AWS_ENDPOINT_URL` + fake keys), exactly as on a worker. moto's gaps (build
phases, scan findings) are seeded with the helpers in tests/support/aws.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.activity import ActivityCancellationDetails
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Worker

from activities.aws import (
    archive_audit,
    commit_of,
    parse_ecr_reference,
    resolve_image,
    run_codebuild,
)
from activities.scan import scan_gate
from rollway.models import (
    ArchiveInput,
    BuildInput,
    Outcome,
    PromotionInput,
    ResolveImageInput,
    ScanInput,
)
from rollway.providers.aws import (
    AuditArchiveConfig,
    AwsClients,
    AwsError,
    CodeBuildConfig,
    EcrImageConfig,
    audit_key,
)
from rollway.scan import ScanException, ScanPolicy, ScanVerdict
from rollway.spec import EcrScan, S3SarifScan
from rollway.spec_loader import parse_pipeline
from tests.histories.record import save_history
from tests.support.aws.moto import (
    ACCOUNT,
    REGION,
    ROLLED_BACK,
    ScriptedBuilds,
    create_project,
    critical_enhanced,
    high_basic,
    make_bucket,
    moto_api,
    phase,
    push_image,
    restricted_session,
    running,
    seed_scan_findings,
    write_log,
)
from tests.support.fake_world import FakeWorld
from tests.support.promotions import pipeline, query_state
from workers.registry import WORKFLOWS
from workflows.promotion import PromotionWorkflow

SHA = "3f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39"
PROJECT = "checkout-build"
SPEC = CodeBuildConfig(project=PROJECT, region=REGION, timeout="30m", poll_interval="10ms")
NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
IMAGE = EcrImageConfig(repository="checkout", region=REGION)
FAST_ECR = {"timeout": "1m", "poll_interval": "10ms"}
FIXTURES = Path(__file__).parents[1] / "scan" / "fixtures"
SUCCEEDED = {"buildStatus": "SUCCEEDED", "currentPhase": "COMPLETED", "resolvedSourceVersion": SHA}


def build_input() -> BuildInput:
    return BuildInput(service="checkout", version="v2", commit=SHA, build=SPEC, pipeline_dir=".")


def activity_env(
    on_heartbeat: Callable[..., None] | None = None, *, attempt: int = 1, details: Any = ()
) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info,
        activity_id="1",
        attempt=attempt,
        heartbeat_details=list(details),
        workflow_run_id="run-1",
    )
    if on_heartbeat is not None:
        env.on_heartbeat = on_heartbeat
    return env


class Heartbeats:
    """Records heartbeat details; on the first one (the build id) scripts the build."""

    def __init__(self, on_first: Callable[[str], None] | None = None) -> None:
        self.details: list[dict[str, Any]] = []
        self.on_first = on_first

    def __call__(self, *details: Any) -> None:
        self.details.extend(details)
        if len(self.details) == 1 and self.on_first is not None:
            self.on_first(details[0]["build_id"])


@pytest.fixture
def builds(worker_env: AwsClients, monkeypatch: pytest.MonkeyPatch) -> ScriptedBuilds:
    create_project(worker_env, PROJECT)
    return ScriptedBuilds(monkeypatch)


def app_error(exc: pytest.ExceptionInfo[ApplicationError]) -> ApplicationError:
    return exc.value


# --- CodeBuild -----------------------------------------------------------------------


def test_codebuild_success_returns_the_build_arn(
    worker_env: AwsClients, builds: ScriptedBuilds
) -> None:
    def script(build_id: str) -> None:
        write_log(worker_env, build_id.split(":", 1)[1], ["[Container] BUILD", "pushed image"])
        builds.script(build_id, running("BUILD", build_id), SUCCEEDED)

    beats = Heartbeats(script)
    result = activity_env(beats).run(run_codebuild, build_input(), SPEC)

    (build_id,) = builds.started(PROJECT)
    assert result.artifact == f"arn:aws:codebuild:{REGION}:{ACCOUNT}:build/{build_id}"
    assert not result.reused
    assert result.log_tail == "[Container] BUILD\npushed image"
    assert {d["build_id"] for d in beats.details} == {build_id}
    assert [d["phase"] for d in beats.details][1:] == ["BUILD", "COMPLETED"]
    assert beats.details[1]["log_tail"] == ["[Container] BUILD", "pushed image"]


class WorkerDied(BaseException):
    """The worker process vanishes right after the first heartbeat."""


@pytest.mark.parametrize("encoded", [False, True], ids=["decoded", "payload"])
def test_retried_attempt_reattaches_to_the_recorded_build(
    worker_env: AwsClients, builds: ScriptedBuilds, encoded: bool
) -> None:
    first = Heartbeats()

    def die(*details: Any) -> None:
        first(*details)
        raise WorkerDied

    with pytest.raises(WorkerDied):
        activity_env(die).run(run_codebuild, build_input(), SPEC)
    (build_id,) = builds.started(PROJECT)
    assert first.details == [{"build_id": build_id, "phase": "QUEUED", "log_tail": []}]
    assert builds.record(build_id)["buildStatus"] != "STOPPED"  # left for the retry

    builds.script(build_id, running("BUILD", build_id), SUCCEEDED)
    last = first.details[-1]
    recorded = pydantic_data_converter.payload_converter.to_payload(last) if encoded else last
    env = activity_env(Heartbeats(), attempt=2, details=[recorded])
    result = env.run(run_codebuild, build_input(), SPEC)

    assert builds.started(PROJECT) == [build_id]  # exactly one StartBuild
    assert result.artifact.endswith(f"build/{build_id}")


def test_failed_build_is_non_retryable_with_phase_and_log_tail(
    worker_env: AwsClients, builds: ScriptedBuilds
) -> None:
    def script(build_id: str) -> None:
        lines = [f"line {i}" for i in range(40)] + ["make: *** [test] Error 2"]
        write_log(worker_env, build_id.split(":", 1)[1], lines)
        failed = {
            "buildStatus": "FAILED",
            "currentPhase": "COMPLETED",
            "phases": [
                phase("INSTALL", "SUCCEEDED"),
                phase("BUILD", "FAILED", "Error while executing command: make test"),
            ],
        }
        builds.script(build_id, running("BUILD", build_id), failed)

    with pytest.raises(ApplicationError) as exc:
        activity_env(Heartbeats(script)).run(run_codebuild, build_input(), SPEC)
    err = app_error(exc)
    assert err.non_retryable and err.type == "BuildFailed"
    assert "FAILED in phase BUILD" in err.message
    assert "make test" in err.message and "make: *** [test] Error 2" in err.message
    info, build = err.details
    assert info["kind"] == "failed" and not info["retryable"]
    assert build["failed_phase"] == "BUILD" and build["log_tail"][-1] == "make: *** [test] Error 2"


def test_build_log_secrets_never_leave_the_worker(
    worker_env: AwsClients, builds: ScriptedBuilds, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"
    monkeypatch.setenv("DEPLOY_TOKEN", secret)
    heartbeats = Heartbeats()

    def script(build_id: str) -> None:
        lines = [f"DEPLOY_TOKEN={secret}", "make: *** [test] Error 2"]
        write_log(worker_env, build_id.split(":", 1)[1], lines)
        failed = {
            "buildStatus": "FAILED",
            "currentPhase": "COMPLETED",
            "phases": [phase("BUILD", "FAILED", f"Error: token {secret} rejected")],
        }
        builds.script(build_id, running("BUILD", build_id), failed)

    heartbeats.on_first = script
    with pytest.raises(ApplicationError) as exc:
        activity_env(heartbeats).run(run_codebuild, build_input(), SPEC)
    err = app_error(exc)
    everything = repr(err.message) + repr(err.details) + repr(heartbeats.details)
    assert "make: *** [test] Error 2" in everything  # the log is still there
    assert secret not in everything  # its secret is not


@pytest.mark.parametrize(
    ("details", "stopped"),
    [
        (ActivityCancellationDetails(cancel_requested=True), True),
        (ActivityCancellationDetails(worker_shutdown=True), False),
    ],
    ids=["cancel-requested", "worker-shutdown"],
)
def test_cancellation_stops_the_build_unless_a_retry_will_reattach(
    worker_env: AwsClients,
    builds: ScriptedBuilds,
    details: ActivityCancellationDetails,
    stopped: bool,
) -> None:
    env = activity_env()
    beats = Heartbeats(lambda build_id: builds.script(build_id, running("BUILD", build_id)))

    def heartbeat(*d: Any) -> None:
        beats(*d)
        if d[0]["phase"] == "BUILD":
            env.cancel(details)

    env.on_heartbeat = heartbeat
    with pytest.raises(CancelledError):
        env.run(run_codebuild, build_input(), SPEC)
    (build_id,) = builds.started(PROJECT)
    assert (builds.record(build_id)["buildStatus"] == "STOPPED") is stopped


# --- ECR -----------------------------------------------------------------------------


def test_resolve_image_pins_the_digest(worker_env: AwsClients) -> None:
    digest = push_image(worker_env, "checkout", SHA)
    ref = ActivityEnvironment().run(
        resolve_image, ResolveImageInput(service="checkout", commit=SHA, image=IMAGE)
    )
    uri = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/checkout"
    assert (ref.digest, ref.repository_uri, ref.tag) == (digest, uri, SHA)
    assert ref.reference == f"{uri}@{digest}"


def test_resolve_image_missing_tag_fails_non_retryable(worker_env: AwsClients) -> None:
    push_image(worker_env, "checkout", "0" * 40)
    with pytest.raises(ApplicationError) as exc:
        ActivityEnvironment().run(
            resolve_image, ResolveImageInput(service="checkout", commit=SHA, image=IMAGE)
        )
    err = app_error(exc)
    assert err.non_retryable and err.type == "not-found"
    assert f"no image tagged {SHA} in ECR repository checkout" in err.message
    assert "did the build push" in err.message


def test_access_denied_names_the_iam_action(
    worker_env: AwsClients, moto_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    push_image(worker_env, "checkout", SHA)
    creds = restricted_session(worker_env, moto_url).get_credentials()
    assert creds is not None
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", creds.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", creds.secret_key)
    moto_api(moto_url, "reset-auth", b"0")  # enforce IAM from now on
    try:
        with pytest.raises(ApplicationError) as exc:
            ActivityEnvironment().run(
                resolve_image, ResolveImageInput(service="checkout", commit=SHA, image=IMAGE)
            )
    finally:
        moto_api(moto_url, "reset-auth", b"inf")
    err = app_error(exc)
    assert err.non_retryable and err.type == "access-denied"
    assert "may not call ecr:DescribeImages on image " in err.message
    assert err.details[0]["iam_action"] == "ecr:DescribeImages"
    assert creds.secret_key not in json.dumps([err.message, *err.details])


def test_ecr_reference_parsing() -> None:
    uri = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/team/checkout"
    digest = "sha256:" + "ab" * 32
    ref = parse_ecr_reference(f"{uri}@{digest}")
    assert ref is not None
    assert (ref.registry_id, ref.region, ref.repository, ref.repository_uri, ref.tag) == (
        ACCOUNT,
        REGION,
        "team/checkout",
        uri,
        None,
    )
    tagged = parse_ecr_reference(f"{uri}:{SHA}@{digest}")
    assert tagged is not None and tagged.tag == SHA and tagged.repository_uri == uri
    assert parse_ecr_reference(f"{uri}:{SHA}") is None
    assert parse_ecr_reference("/artifacts/v2") is None
    assert commit_of(f"registry.example.com/checkout:{SHA}") == SHA
    with pytest.raises(AwsError, match="cannot tell the commit"):
        commit_of(f"arn:aws:codebuild:{REGION}:{ACCOUNT}:build/{PROJECT}:1234")


# --- scan_gate end to end ------------------------------------------------------------


def scan(
    worker_env: AwsClients, moto_url: str, policy: ScanPolicy, now: datetime, **seed: Any
) -> ScanVerdict:
    digest = push_image(worker_env, "checkout", SHA)
    seed_scan_findings(moto_url, "checkout", digest, **seed)
    image = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/checkout@{digest}"
    spec = EcrScan(policy=policy, **FAST_ECR)
    return ActivityEnvironment().run(scan_gate, ScanInput(artifact=image, scan=spec, now=now))


def test_scan_gate_ecr_critical_blocks(worker_env: AwsClients, moto_url: str) -> None:
    verdict = scan(worker_env, moto_url, ScanPolicy(), NOW, enhanced=[critical_enhanced()])
    assert not verdict.passed
    assert [f.id for f in verdict.blocking] == ["CVE-2022-37434"]
    assert "CVE-2022-37434" in verdict.summary and "fixed in 1.2.12-r2" in verdict.summary


def test_scan_gate_ecr_high_passes_with_due_date(worker_env: AwsClients, moto_url: str) -> None:
    verdict = scan(worker_env, moto_url, ScanPolicy(), NOW, findings=[high_basic()])
    assert verdict.passed
    assert [(d.finding.id, d.due) for d in verdict.deferred] == [
        ("CVE-2023-0286", (NOW + timedelta(days=14)).date())
    ]


@pytest.mark.parametrize(
    ("now", "passed"), [(NOW, True), (datetime(2025, 4, 2, tzinfo=UTC), False)]
)
def test_scan_gate_ecr_exception_honoured_then_expired(
    worker_env: AwsClients, moto_url: str, now: datetime, passed: bool
) -> None:
    waiver = ScanException(
        finding_id="CVE-2022-37434",
        justification="inflate() is never fed untrusted input",
        expires=date(2025, 3, 31),
    )
    policy = ScanPolicy(exceptions=[waiver])
    verdict = scan(worker_env, moto_url, policy, now, enhanced=[critical_enhanced()])
    assert verdict.passed is passed
    if passed:
        assert [e.finding_id for e in verdict.exceptions_applied] == ["CVE-2022-37434"]
    else:
        assert "expired on 2025-03-31" in verdict.summary


def test_scan_gate_ecr_needs_a_digest_artifact(worker_env: AwsClients) -> None:
    inp = ScanInput(artifact="/artifacts/v2", scan=EcrScan(**FAST_ECR), now=NOW)
    with pytest.raises(ApplicationError, match="set `image:`") as exc:
        ActivityEnvironment().run(scan_gate, inp)
    assert exc.value.non_retryable


def test_scan_gate_s3_sarif_reads_the_commit_from_the_image_tag(
    worker_env: AwsClients,
) -> None:
    digest = push_image(worker_env, "checkout", SHA)
    make_bucket(worker_env, "ci-reports")
    s3 = worker_env.s3()
    trivy = (FIXTURES / "trivy.sarif").read_bytes()
    s3.put_object(Bucket="ci-reports", Key=f"scans/{SHA}/trivy.sarif", Body=trivy)
    s3.put_object(Bucket="ci-reports", Key="scans/other/trivy.sarif", Body=b"{}")
    image = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/checkout@{digest}"
    spec = S3SarifScan(bucket="ci-reports", prefix="scans/{commit}/", region=REGION)

    verdict = ActivityEnvironment().run(scan_gate, ScanInput(artifact=image, scan=spec, now=NOW))
    assert not verdict.passed
    assert "CVE-2022-37434" in {f.id for f in verdict.blocking}

    missing = S3SarifScan(bucket="ci-reports", prefix="none/{commit}/", region=REGION)
    with pytest.raises(ApplicationError, match="no SARIF reports") as exc:
        ActivityEnvironment().run(scan_gate, ScanInput(artifact=image, scan=missing, now=NOW))
    assert exc.value.non_retryable and exc.value.type == "not-found"


# --- audit archive -------------------------------------------------------------------


def test_archive_audit_writes_once_with_sse(worker_env: AwsClients) -> None:
    make_bucket(worker_env, "rollway-audit")
    inp = ArchiveInput(
        service="checkout",
        workflow_id="promote-checkout-3f2a9c1",
        finished_at=datetime(2025, 3, 10, 23, 30, tzinfo=UTC),
        record=ROLLED_BACK,
        audit=AuditArchiveConfig(bucket="rollway-audit", region=REGION),
    )
    first = ActivityEnvironment().run(archive_audit, inp)
    again = ActivityEnvironment().run(archive_audit, inp)  # a retried attempt

    assert first.key == "rollway/audit/checkout/2025/03/10/promote-checkout-3f2a9c1.json"
    assert first.written and not again.written and again.sha256 == first.sha256
    s3 = worker_env.s3()
    assert s3.head_object(Bucket="rollway-audit", Key=first.key)["ServerSideEncryption"] == (
        "AES256"
    )
    assert len(s3.list_object_versions(Bucket="rollway-audit").get("Versions", [])) == 1


def test_archive_audit_conflict_is_non_retryable(worker_env: AwsClients) -> None:
    make_bucket(worker_env, "rollway-audit")
    inp = ArchiveInput(
        service="checkout",
        workflow_id="wf-1",
        finished_at=NOW,
        record=ROLLED_BACK,
        audit=AuditArchiveConfig(bucket="rollway-audit", region=REGION),
    )
    ActivityEnvironment().run(archive_audit, inp)
    changed = inp.model_copy(update={"record": {**ROLLED_BACK, "outcome": "promoted"}})
    with pytest.raises(ApplicationError, match="immutable") as exc:
        ActivityEnvironment().run(archive_audit, changed)
    assert exc.value.non_retryable and exc.value.type == "AuditConflict"


# --- a promotion on the time-skipping server ---------------------------------------


async def test_promotion_pins_the_digest_and_archives_once(
    ts_client: Client, worker_env: AwsClients, moto_url: str
) -> None:
    digest = push_image(worker_env, "demo", SHA)
    seed_scan_findings(moto_url, "demo", digest, findings=[high_basic()])
    make_bucket(worker_env, "rollway-audit")
    spec = pipeline(
        approval=None,
        image={"repository": "demo", "region": REGION},
        scan={"kind": "ecr", **FAST_ECR},
        audit={"bucket": "rollway-audit", "region": REGION},
    )
    world = FakeWorld(verdicts=["fail", "fail"])
    real: list[Callable[..., Any]] = [resolve_image, archive_audit, scan_gate]
    names = {fn.__name__ for fn in real}
    acts = [f for f in world.activities() if f.__name__ not in names] + real

    queue = f"tq-{uuid.uuid4()}"
    wf_id = f"promote-demo-{uuid.uuid4()}"
    with ThreadPoolExecutor(max_workers=4) as pool:
        async with Worker(
            ts_client,
            task_queue=queue,
            workflows=WORKFLOWS,
            activities=acts,
            activity_executor=pool,
        ):
            inp = PromotionInput(
                service="demo",
                version="v2",
                commit=SHA,
                pipeline=parse_pipeline(spec),
                release_control=f"release-control-{queue}",  # isolated from other tests
            )
            handle = await ts_client.start_workflow(
                PromotionWorkflow.run, inp, id=wf_id, task_queue=queue
            )
            result = await asyncio.wait_for(handle.result(), 60)
            state = await query_state(handle)
            save_history(await handle.fetch_history(), "aws-image-pinned-rolled-back")

    image = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/demo@{digest}"
    assert result.outcome == Outcome.ROLLED_BACK
    assert state.artifact == image
    assert state.scan is not None and state.scan.passed
    assert [d.finding.id for d in state.scan.deferred] == ["CVE-2023-0286"]
    assert world.stable["production"] == "v1"

    s3 = worker_env.s3()
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="rollway-audit").get("Contents", [])]
    assert state.finished_at is not None
    assert keys == [audit_key("rollway/audit", "demo", wf_id, state.finished_at)]
    obj = s3.get_object(Bucket="rollway-audit", Key=keys[0])
    assert obj["ServerSideEncryption"] == "AES256"
    record = json.loads(obj["Body"].read())
    assert record["outcome"] == "rolled_back" and record["artifact"] == image
