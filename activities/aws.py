"""Temporal activities (and activity helpers) for the AWS providers.

- `run_codebuild`: called by the `build` activity for `build.kind: codebuild`. It
  heartbeats `{build_id, phase, log_tail}`; a retried attempt reads the build id
  back from its heartbeat details and reattaches instead of starting a second
  build. The `BuildResult.artifact` is the build's ARN: it names the build (and
  its logs); the image it pushed is pinned by digest in the `image:` stage.
- `aws_scan_findings`: called by `scan_gate` for `scan.kind: ecr` / `s3-sarif`.
- `resolve_image` and `archive_audit`: activities of their own.

Clients come from `AwsClients(region)` with boto3's default chain: credentials,
and optionally `AWS_ENDPOINT_URL` (/ `AWS_ENDPOINT_URL_<SERVICE>`), are read from
the worker's environment only. A fresh client set per call picks up rotated
credentials and costs little next to the AWS calls. Every `AwsError` becomes an
`ApplicationError` in `application_error`.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
from pydantic import BaseModel
from temporalio import activity
from temporalio.api.common.v1 import Payload
from temporalio.exceptions import ApplicationError, CancelledError

from rollway.models import ArchiveInput, BuildInput, BuildResult, ResolveImageInput, ScanInput
from rollway.providers.aws import (
    AuditConflictError,
    AuditRecordRef,
    AwsClients,
    AwsError,
    BuildCancelledError,
    BuildFailedError,
    BuildInfo,
    BuildProgress,
    CodeBuildConfig,
    CodeBuildRunner,
    ImageRef,
    archive_promotion_record,
    aws_errors,
    read_sarif_reports,
    scan_image,
)
from rollway.providers.aws import resolve_image as resolve_ecr_image
from rollway.scan import Finding, SarifError
from rollway.security.redact import Redactor
from rollway.spec import EcrScan, S3SarifScan

HEARTBEAT_EVERY_S = 5.0  # re-send the last details while sleeping between polls
SLEEP_SLICE_S = 1.0  # how quickly a sleeping poll loop notices cancellation
HEARTBEAT_TAIL_LINES = 20

_ECR_REFERENCE = re.compile(
    r"^(?P<uri>(?P<registry>\d{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)"
    r"\.(?:amazonaws\.com(?:\.cn)?|on\.aws)"
    r"/(?P<repository>[a-z0-9][a-z0-9._/-]*?))"
    r"(?::(?P<tag>\w[\w.-]{0,127}))?"
    r"@(?P<digest>sha256:[0-9a-f]{64})$"
)
_COMMIT = re.compile(r"^[0-9a-f]{7,40}$")
_TRAILING_COMMIT = re.compile(r":([0-9a-f]{7,40})$")

_ERROR_TYPES: dict[type[AwsError], str] = {
    BuildFailedError: "BuildFailed",
    AuditConflictError: "AuditConflict",
}


# --- errors --------------------------------------------------------------------------


def application_error(err: AwsError) -> ApplicationError:
    """`AwsError` -> `ApplicationError(type=kind, non_retryable=not retryable)`.

    The message names the IAM action and resource (see `rollway.providers.aws.errors`);
    the first detail is `AwsErrorInfo` as JSON. Failed builds carry their build too.
    """
    details: list[Any] = [_redact_all(err.info().model_dump(mode="json"))]
    if isinstance(err, BuildFailedError | BuildCancelledError):
        details.append(_redact_all(err.build.model_dump(mode="json")))
    return ApplicationError(
        _redact(err.message),
        *details,
        type=_ERROR_TYPES.get(type(err), err.kind),
        non_retryable=not err.retryable,
    )


@contextlib.contextmanager
def temporal_errors() -> Iterator[None]:
    """Raise `AwsError` and `SarifError` from the block as `ApplicationError`."""
    try:
        yield
    except AwsError as err:
        raise application_error(err) from err
    except SarifError as err:
        raise ApplicationError(str(err), type="SarifError", non_retryable=True) from err


def clients(region: str | None) -> AwsClients:
    """Clients for `region` (None: the worker's default region), default credential chain."""
    session = boto3.Session()
    return AwsClients(region or session.region_name or "us-east-1", session=session)


# --- heartbeats and cancellation ----------------------------------------------------


def _stop_on_cancel() -> bool:
    """Stop AWS work on cancellation, except when a retry will pick it up again.

    A worker shutting down, a heartbeat timeout or a pause leave the build running
    for the next attempt to reattach to; a cancel request (abort, failed workflow)
    or a reset stops it.
    """
    details = activity.cancellation_details()
    if details is None:
        return True
    return not (details.worker_shutdown or details.timed_out or details.paused)


class _Beat:
    """Heartbeats plus a cancellable sleep that keeps heartbeating on long polls."""

    def __init__(self) -> None:
        self.details: dict[str, Any] = {}
        self.last = 0.0

    def send(self, details: dict[str, Any]) -> None:
        self.details = details
        self.last = time.monotonic()
        activity.heartbeat(details)

    def sleep(self, seconds: float) -> None:
        """Sleep in short slices; return early on a stopping cancel, raise on another."""
        end = time.monotonic() + seconds
        while True:
            if activity.is_cancelled():
                if _stop_on_cancel():
                    return  # the poll loop sees is_cancelled() and stops the work
                raise CancelledError("activity cancelled; AWS work left running for the retry")
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, SLEEP_SLICE_S))
            if self.details and time.monotonic() - self.last >= HEARTBEAT_EVERY_S:
                self.send(self.details)


def recorded_build_id() -> str | None:
    """The build id in the last heartbeat of a previous attempt, if any.

    The worker decodes heartbeat details without type hints, so they arrive as the
    JSON dict we sent; a raw `Payload` or a pydantic model is accepted too.
    """
    details = activity.info().heartbeat_details
    if not details:
        return None
    last: Any = details[-1]
    if isinstance(last, Payload):
        last = activity.payload_converter().from_payload(last, dict)
    if isinstance(last, BaseModel):
        last = last.model_dump()
    build_id = last.get("build_id") if isinstance(last, dict) else None
    return build_id if isinstance(build_id, str) and build_id else None


def _build_details(build_id: str, phase: str, log_tail: list[str]) -> dict[str, Any]:
    redacted = [_redact(line) for line in log_tail[-HEARTBEAT_TAIL_LINES:]]
    return {"build_id": build_id, "phase": phase, "log_tail": redacted}


def _redact_all(value: Any) -> Any:
    """Every string inside `value` (a JSON-like structure), redacted."""
    if isinstance(value, str):
        return _redact(value)
    if isinstance(value, list):
        return [_redact_all(v) for v in value]
    if isinstance(value, dict):
        return {k: _redact_all(v) for k, v in value.items()}
    return value


def _redact(text: str) -> str:
    """Build logs and errors lose the worker's secret values before they leave the worker."""
    return Redactor.from_env()(text)


# --- build ---------------------------------------------------------------------------


def run_codebuild(inp: BuildInput, spec: CodeBuildConfig) -> BuildResult:
    """Build `inp.commit` with CodeBuild, once across retries; the artifact is the build ARN.

    Call from inside the `build` activity. Cancelling the activity stops the build
    (see `_stop_on_cancel`); a failed build is non-retryable with its phase and log tail.
    """
    info = activity.info()
    key = f"{info.workflow_run_id}/{info.activity_id}" if info.workflow_run_id else None
    aws = clients(spec.region)
    beat = _Beat()
    runner = CodeBuildRunner(aws.codebuild(), spec, logs=aws.logs(), sleep=beat.sleep, cancel_on=())
    build_id: str | None = None

    def started(build: BuildInfo) -> None:
        beat.send(_build_details(build.build_id, build.phase, []))
        activity.logger.info(
            "%s CodeBuild build %s for %s",
            "reattached to" if build.attached else "started",
            build.build_id,
            inp.commit,
        )

    def progress(p: BuildProgress) -> None:
        beat.send(_build_details(p.build_id, p.phase, p.log_tail))

    try:
        with temporal_errors():
            try:
                first = runner.start(
                    inp.commit, known_build_id=recorded_build_id(), idempotency_key=key
                )
                build_id = first.build_id
                started(first)
                done = runner.wait(
                    first.build_id,
                    on_progress=progress,
                    is_cancelled=lambda: activity.is_cancelled() and _stop_on_cancel(),
                )
            except BuildCancelledError as err:
                raise CancelledError(err.message) from err
    except CancelledError:
        if build_id is not None and _stop_on_cancel():
            with activity.shield_thread_cancel_exception(), contextlib.suppress(AwsError):
                runner.stop(build_id)
        raise
    return BuildResult(
        artifact=done.arn or done.build_id,
        reused=first.attached and first.done,
        log_tail=_redact("\n".join(done.log_tail)),
    )


# --- image ---------------------------------------------------------------------------


@dataclass(frozen=True)
class EcrReference:
    """An ECR image reference `<acct>.dkr.ecr.<region>.amazonaws.com/<repo>[:tag]@sha256:…`."""

    registry_id: str
    region: str
    repository: str
    repository_uri: str
    tag: str | None
    digest: str
    reference: str

    def image_ref(self) -> ImageRef:
        return ImageRef(
            registry_id=self.registry_id,
            repository=self.repository,
            repository_uri=self.repository_uri,
            tag=self.tag or "",
            digest=self.digest,
            reference=self.reference,
        )


def parse_ecr_reference(artifact: str) -> EcrReference | None:
    """Parse an ECR digest reference (what `resolve_image` returns); None if it is not one."""
    m = _ECR_REFERENCE.fullmatch(artifact.strip())
    if m is None:
        return None
    return EcrReference(
        registry_id=m["registry"],
        region=m["region"],
        repository=m["repository"],
        repository_uri=m["uri"],
        tag=m["tag"],
        digest=m["digest"],
        reference=artifact.strip(),
    )


@activity.defn(name="resolve_image")
def resolve_image(inp: ResolveImageInput) -> ImageRef:
    """Pin the image tagged with the commit by its digest; a missing tag fails at once."""
    with temporal_errors():
        return resolve_ecr_image(clients(inp.image.region).ecr(), inp.image, inp.commit)


# --- scan ----------------------------------------------------------------------------


def aws_scan_findings(inp: ScanInput) -> list[Finding]:
    """Findings for `scan.kind: ecr` (the artifact's image) or `s3-sarif` (CI's reports)."""
    scan = inp.scan
    if isinstance(scan, EcrScan):
        ref = parse_ecr_reference(inp.artifact)
        if ref is None:
            raise ApplicationError(
                f"scan kind 'ecr' scans an image pinned by digest, but the artifact is "
                f"{inp.artifact!r}; set `image:` in the pipeline so the image is resolved "
                "to <registry>/<repository>@sha256:… before the scan",
                type="invalid",
                non_retryable=True,
            )
        beat = _Beat()
        with temporal_errors():
            result = scan_image(
                clients(ref.region).ecr(),
                ref.image_ref(),
                scan,
                on_progress=lambda state: beat.send({"image": ref.reference, "scan": state}),
                sleep=beat.sleep,
            )
        return result.findings
    if isinstance(scan, S3SarifScan):
        with temporal_errors():
            commit = commit_of(inp.artifact) if "{commit}" in scan.prefix else None
            activity.heartbeat({"bucket": scan.bucket, "commit": commit})
            return read_sarif_reports(clients(scan.region).s3(), scan, commit=commit).findings
    raise ApplicationError(
        f"scan kind {scan.kind!r} is not an AWS scan", type="invalid", non_retryable=True
    )


def commit_of(artifact: str) -> str:
    """The commit an artifact was built from, for an S3 prefix with `{commit}`.

    `…:<sha>` gives it directly; an ECR digest reference is looked up in ECR
    (`ecr:DescribeImages`) for its commit-SHA tag.
    """
    ref = parse_ecr_reference(artifact)
    if ref is None:
        m = _TRAILING_COMMIT.search(artifact)
        if m:
            return m.group(1)
        raise AwsError(
            f"cannot tell the commit of artifact {artifact!r} to fill `{{commit}}` in the "
            "S3 SARIF prefix; set `image:` (the commit is read from the image's tag) or use "
            "a prefix without {commit}",
            kind="invalid",
        )
    if ref.tag and _COMMIT.fullmatch(ref.tag):
        return ref.tag
    ecr = clients(ref.region).ecr()
    with aws_errors(ecr, f"image {ref.reference}"):
        resp = ecr.describe_images(
            repositoryName=ref.repository,
            registryId=ref.registry_id,
            imageIds=[{"imageDigest": ref.digest}],
        )
    tags = {t for d in resp.get("imageDetails", []) for t in d.get("imageTags", [])}
    shas = sorted(t for t in tags if _COMMIT.fullmatch(t))
    full = [t for t in shas if len(t) == 40]
    found = full or shas
    if len(found) != 1:
        raise AwsError(
            f"image {ref.reference} has {'no' if not found else 'several'} commit-SHA tags "
            f"({', '.join(sorted(tags)) or 'no tags'}); cannot fill `{{commit}}` in the S3 "
            "SARIF prefix",
            kind="invalid",
            resource=ref.reference,
        )
    return found[0]


# --- audit ---------------------------------------------------------------------------


@activity.defn(name="archive_audit")
def archive_audit(inp: ArchiveInput) -> AuditRecordRef:
    """Write the promotion record once, encrypted, keyed by the workflow's finish date."""
    with temporal_errors():
        return archive_promotion_record(
            clients(inp.audit.region).s3(),
            inp.audit,
            service=inp.service,
            workflow_id=inp.workflow_id,
            when=inp.finished_at,
            record=inp.record,
        )


__all__ = [
    "EcrReference",
    "application_error",
    "archive_audit",
    "aws_scan_findings",
    "clients",
    "commit_of",
    "parse_ecr_reference",
    "recorded_build_id",
    "resolve_image",
    "run_codebuild",
    "temporal_errors",
]
