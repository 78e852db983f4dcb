"""ECR: resolve the commit's image by digest, scan it, and gate on the findings."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from rollway.providers.aws import (
    AwsClients,
    AwsError,
    EcrImageConfig,
    EcrScanConfig,
    resolve_image,
    scan_image,
)
from rollway.scan import ScanException, ScanPolicy, evaluate
from tests.support.aws.moto import (
    REGION,
    critical_enhanced,
    high_basic,
    push_image,
    seed_scan_findings,
)

SHA = "3f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39"
NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
IMAGE = EcrImageConfig(repository="checkout", region=REGION)
FAST = EcrScanConfig(timeout="1m", poll_interval="1s")


def no_sleep(_: float) -> None:
    pass


def test_clean_image_resolves_scans_and_passes(aws: AwsClients, moto_url: str) -> None:
    digest = push_image(aws, "checkout", SHA)
    seed_scan_findings(moto_url, "checkout", digest, findings=[])

    image = resolve_image(aws.ecr(), IMAGE, SHA)
    assert image.digest == digest and digest.startswith("sha256:")
    assert image.reference == f"{image.repository_uri}@{digest}"
    assert image.repository_uri.endswith("/checkout")

    states: list[str] = []
    result = scan_image(aws.ecr(), image, FAST, sleep=no_sleep, on_progress=states.append)
    assert result.findings == [] and result.status == "COMPLETE" and states == ["COMPLETE"]
    # The scan was started by us (no scan existed) and exactly once.
    assert (
        aws.ecr().describe_image_scan_findings(
            repositoryName="checkout", imageId={"imageDigest": digest}
        )["imageScanStatus"]["status"]
        == "COMPLETE"
    )

    verdict = evaluate(result.findings, ScanPolicy(), NOW)
    assert verdict.passed and verdict.summary.startswith("Scan gate PASSED")
    # Crossing the Temporal boundary: JSON round trip.
    assert type(result).model_validate_json(result.model_dump_json()) == result


def test_scan_rerun_same_day_is_idempotent(aws: AwsClients, moto_url: str) -> None:
    digest = push_image(aws, "checkout", SHA)
    seed_scan_findings(moto_url, "checkout", digest, findings=[])
    image = resolve_image(aws.ecr(), IMAGE, SHA)
    first = scan_image(aws.ecr(), image, FAST, sleep=no_sleep)
    again = scan_image(aws.ecr(), image, FAST, sleep=no_sleep)  # reads the existing scan
    assert first.findings == again.findings


def test_critical_finding_blocks_with_package_and_fix(aws: AwsClients, moto_url: str) -> None:
    digest = push_image(aws, "checkout", SHA)
    seed_scan_findings(moto_url, "checkout", digest, enhanced=[critical_enhanced()])

    image = resolve_image(aws.ecr(), IMAGE, SHA)
    result = scan_image(aws.ecr(), image, FAST, sleep=no_sleep)
    assert result.scan_type == "enhanced"
    (finding,) = result.findings
    assert (finding.id, finding.severity, finding.package) == ("CVE-2022-37434", "critical", "zlib")
    assert (finding.installed_version, finding.fixed_version) == ("1.2.12-r1", "1.2.12-r2")

    verdict = evaluate(result.findings, ScanPolicy(), NOW)
    assert not verdict.passed
    assert [f.id for f in verdict.blocking] == ["CVE-2022-37434"]
    for text in ("CVE-2022-37434", "zlib 1.2.12-r1", "fixed in 1.2.12-r2"):
        assert text in verdict.summary


def test_high_finding_passes_with_due_date(aws: AwsClients, moto_url: str) -> None:
    digest = push_image(aws, "checkout", SHA)
    seed_scan_findings(moto_url, "checkout", digest, findings=[high_basic()])

    image = resolve_image(aws.ecr(), IMAGE, SHA)
    result = scan_image(aws.ecr(), image, FAST, sleep=no_sleep)
    assert result.scan_type == "basic"
    (finding,) = result.findings
    assert (finding.id, finding.severity, finding.package) == ("CVE-2023-0286", "high", "libssl3")

    verdict = evaluate(result.findings, ScanPolicy(high_due_days=14), NOW)
    assert verdict.passed
    assert [(d.finding.id, d.due) for d in verdict.deferred] == [
        ("CVE-2023-0286", date(2025, 3, 24))
    ]


def test_exception_honoured_then_expired(aws: AwsClients, moto_url: str) -> None:
    digest = push_image(aws, "checkout", SHA)
    seed_scan_findings(moto_url, "checkout", digest, enhanced=[critical_enhanced()])
    image = resolve_image(aws.ecr(), IMAGE, SHA)
    findings = scan_image(aws.ecr(), image, FAST, sleep=no_sleep).findings
    policy = ScanPolicy(
        exceptions=[
            ScanException(
                finding_id="CVE-2022-37434",
                justification="inflate() is never fed untrusted input; base image fix 2025-03",
                expires=date(2025, 3, 31),
            )
        ]
    )
    honoured = evaluate(findings, policy, NOW)
    assert honoured.passed
    assert honoured.exceptions_applied[0].finding_id == "CVE-2022-37434"

    expired = evaluate(findings, policy, datetime(2025, 4, 2, tzinfo=UTC))
    assert not expired.passed
    assert "expired on 2025-03-31" in expired.summary
    assert "CVE-2022-37434" in expired.summary and "fixed in 1.2.12-r2" in expired.summary


def test_missing_tag_fails_at_once(aws: AwsClients) -> None:
    push_image(aws, "checkout", "0" * 40)
    with pytest.raises(AwsError) as err:
        resolve_image(aws.ecr(), IMAGE, SHA)
    assert err.value.kind == "not-found" and not err.value.retryable
    assert f"no image tagged {SHA}" in str(err.value)
    assert "checkout" in str(err.value)


def test_missing_repository_fails_at_once(aws: AwsClients) -> None:
    with pytest.raises(AwsError) as err:
        resolve_image(aws.ecr(), EcrImageConfig(repository="nope", region=REGION), SHA)
    assert err.value.kind == "not-found" and not err.value.retryable
    assert "ECR repository nope (eu-west-1) does not exist" in str(err.value)


def test_scan_of_deleted_image_is_not_found(aws: AwsClients) -> None:
    push_image(aws, "checkout", SHA)
    image = resolve_image(aws.ecr(), IMAGE, SHA)
    aws.ecr().batch_delete_image(repositoryName="checkout", imageIds=[{"imageTag": SHA}])
    with pytest.raises(AwsError) as err:
        scan_image(aws.ecr(), image, FAST, sleep=no_sleep)
    assert err.value.kind == "not-found" and not err.value.retryable
