"""ECR image scanning (basic and enhanced/Inspector) as scan-gate findings.

`scan_image` reads the image's scan; if none exists it starts a basic scan
(StartImageScan; with enhanced scanning ECR scans on push and reports PENDING or
ACTIVE instead), waits for it, and converts every finding to a `Finding`.
Idempotent: a scan already started today (LimitExceededException) is awaited.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field

from rollway.models import ImageRef
from rollway.providers.aws.config import EcrScanConfig
from rollway.providers.aws.errors import AwsError, aws_errors
from rollway.scan.findings import Finding, Severity
from rollway.scan.sarif import cvss_severity

if TYPE_CHECKING:
    from mypy_boto3_ecr import ECRClient

_DONE = {"COMPLETE", "ACTIVE"}
_WAITING = {"IN_PROGRESS", "PENDING"}
_ECR_SEVERITY: dict[str, Severity] = {
    "CRITICAL": "critical",
    "HIGH": "high",
    "MEDIUM": "medium",
    "LOW": "low",
    "INFORMATIONAL": "info",
}
_UNKNOWN_SEVERITY: Severity = "medium"  # UNDEFINED/UNTRIAGED with no score: shown, not blocking


class EcrScanResult(BaseModel):
    """The finished scan of one image."""

    image: str = Field(description="repository_uri@sha256:...")
    scan_type: Literal["basic", "enhanced"]
    status: str
    completed_at: datetime | None = None
    findings: list[Finding] = Field(default_factory=list)
    severity_counts: dict[str, int] = Field(default_factory=dict)


def scan_image(
    ecr: ECRClient,
    image: ImageRef,
    config: EcrScanConfig | None = None,
    *,
    on_progress: Callable[[str], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> EcrScanResult:
    """Wait for the image's scan (starting one if needed) and return its findings."""
    cfg = config or EcrScanConfig()
    deadline = clock() + cfg.timeout.total_seconds()
    image_id = {"imageDigest": image.digest}
    base: dict[str, Any] = {
        "repositoryName": image.repository,
        "registryId": image.registry_id,
        "imageId": image_id,
    }
    started = False
    while True:
        first = _describe(ecr, image, base, None)
        if first is None:  # no scan yet
            if started:
                raise AwsError(
                    f"ECR reports no scan for {image.reference} after StartImageScan",
                    kind="retryable",
                    resource=image.reference,
                )
            _start(ecr, image, base)
            started = True
            continue
        status = first.get("imageScanStatus", {})
        state = str(status.get("status", "UNKNOWN"))
        if on_progress is not None:
            on_progress(state)
        if state in _DONE:
            return _collect(ecr, image, base, first, state)
        if state not in _WAITING:
            raise AwsError(
                f"ECR scan of {image.reference} ended {state}: "
                f"{status.get('description', 'no description')}; the scan gate cannot vouch "
                "for this image",
                kind="failed",
                code=state,
                resource=image.reference,
            )
        if clock() >= deadline:
            raise AwsError(
                f"ECR scan of {image.reference} still {state} after {cfg.timeout}",
                kind="retryable",
                code="SCAN_TIMEOUT",
                resource=image.reference,
            )
        sleep(cfg.poll_interval.total_seconds())


def _describe(
    ecr: ECRClient, image: ImageRef, base: dict[str, Any], token: str | None
) -> dict[str, Any] | None:
    kwargs = dict(base, maxResults=1000)
    if token:
        kwargs["nextToken"] = token
    try:
        with aws_errors(ecr, f"image {image.reference}"):
            try:
                return dict(ecr.describe_image_scan_findings(**kwargs))
            except ecr.exceptions.ScanNotFoundException:
                return None
    except AwsError as err:
        if err.code == "ImageNotFoundException":
            raise AwsError(
                f"image {image.reference} is gone from ECR (deleted or expired by a lifecycle "
                "policy?)",
                kind="not-found",
                code=err.code,
                resource=image.reference,
            ) from err
        raise


def _start(ecr: ECRClient, image: ImageRef, base: dict[str, Any]) -> None:
    try:
        with aws_errors(ecr, f"image {image.reference}"):
            try:
                ecr.start_image_scan(**base)
            except ClientError as err:
                if err.response.get("Error", {}).get("Code") == "LimitExceededException":
                    return  # already scanned today: read that scan
                raise
    except AwsError as err:
        if err.code == "UnsupportedImageTypeException":
            raise AwsError(
                f"ECR cannot scan {image.reference} (unsupported image type)",
                kind="failed",
                code=err.code,
                resource=image.reference,
            ) from err
        raise


def _collect(
    ecr: ECRClient, image: ImageRef, base: dict[str, Any], first: dict[str, Any], state: str
) -> EcrScanResult:
    pages = [first]
    token = first.get("nextToken")
    while token:
        page = _describe(ecr, image, base, token)
        if page is None:
            break
        pages.append(page)
        token = page.get("nextToken")
    findings: list[Finding] = []
    enhanced = False
    counts: dict[str, int] = {}
    completed_at = None
    for page in pages:
        body = page.get("imageScanFindings", {})
        completed_at = completed_at or body.get("imageScanCompletedAt")
        for k, v in (body.get("findingSeverityCounts") or {}).items():
            counts[k] = max(counts.get(k, 0), int(v))
        for raw in body.get("findings") or []:
            findings.append(_basic(raw, image))
        for raw in body.get("enhancedFindings") or []:
            enhanced = True
            findings.extend(_enhanced(raw, image))
    return EcrScanResult(
        image=image.reference,
        scan_type="enhanced" if enhanced or state == "ACTIVE" else "basic",
        status=state,
        completed_at=completed_at if isinstance(completed_at, datetime) else None,
        findings=findings,
        severity_counts=counts,
    )


def _severity(label: str | None, score: Any) -> Severity:
    if label and label.upper() in _ECR_SEVERITY:
        return _ECR_SEVERITY[label.upper()]
    try:
        return cvss_severity(float(score)) if score not in (None, "") else _UNKNOWN_SEVERITY
    except (TypeError, ValueError):
        return _UNKNOWN_SEVERITY


def _basic(raw: dict[str, Any], image: ImageRef) -> Finding:
    attrs = {a.get("key"): a.get("value") for a in raw.get("attributes") or []}
    score = attrs.get("CVSS3_SCORE") or attrs.get("CVSS2_SCORE")
    name = str(raw.get("name") or "unknown")
    return Finding(
        id=name,
        tool="ecr-basic",
        severity=_severity(raw.get("severity"), score),
        title=_one_line(raw.get("description")) or name,
        message=str(raw.get("uri") or ""),
        package=attrs.get("package_name"),
        installed_version=attrs.get("package_version"),
        fixed_version=None,  # basic scanning does not report fixes
        source=image.reference,
    )


def _enhanced(raw: dict[str, Any], image: ImageRef) -> list[Finding]:
    details = raw.get("packageVulnerabilityDetails") or {}
    vuln_id = str(details.get("vulnerabilityId") or raw.get("title") or "unknown")
    severity = _severity(raw.get("severity"), raw.get("score"))
    title = _one_line(raw.get("title")) or vuln_id
    message = _one_line(raw.get("description"))
    packages = details.get("vulnerablePackages") or [{}]
    out = []
    for pkg in packages:
        version = pkg.get("version")
        if version and pkg.get("release"):
            version = f"{version}-{pkg['release']}"
        fixed = pkg.get("fixedInVersion")
        out.append(
            Finding(
                id=vuln_id,
                tool="ecr-enhanced",
                severity=severity,
                title=title,
                message=message,
                location=pkg.get("filePath"),
                package=pkg.get("name"),
                installed_version=version,
                fixed_version=fixed if fixed and fixed != "NotAvailable" else None,
                source=image.reference,
            )
        )
    return out


def _one_line(text: Any) -> str:
    s = str(text or "").strip()
    return s.splitlines()[0][:300] if s else ""
