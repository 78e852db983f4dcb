"""S3: the audit archive (once, encrypted) and SARIF reports uploaded by CI."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from rollway.providers.aws import (
    AuditArchiveConfig,
    AuditConflictError,
    AwsClients,
    AwsError,
    S3SarifConfig,
    archive_promotion_record,
    audit_key,
    read_sarif_reports,
)
from rollway.scan import SarifError, ScanPolicy, evaluate
from tests.support.aws.moto import REGION, ROLLED_BACK, make_bucket

BUCKET = "rollway-audit"
WHEN = datetime(2025, 3, 10, 23, 30, tzinfo=UTC)
FIXTURES = Path(__file__).parents[2] / "scan" / "fixtures"
SHA = "3f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39"


def test_audit_key_layout() -> None:
    assert (
        audit_key("rollway/audit/", "checkout", "deploy-checkout/3f2a", WHEN)
        == "rollway/audit/checkout/2025/03/10/deploy-checkout%2F3f2a.json"
    )
    with pytest.raises(AwsError, match="timezone-aware"):
        audit_key("p", "checkout", "wf", datetime(2025, 3, 10))


def test_rolled_back_record_written_once_with_sse(aws: AwsClients) -> None:
    make_bucket(aws)
    cfg = AuditArchiveConfig(bucket=BUCKET, prefix="rollway/audit", region=REGION)
    s3 = aws.s3()
    kwargs: dict[str, Any] = {"service": "checkout", "workflow_id": "deploy-checkout-3f2a9c1"}

    first = archive_promotion_record(s3, cfg, when=WHEN, record=ROLLED_BACK, **kwargs)
    assert first.written and first.sse == "AES256"
    assert first.key == "rollway/audit/checkout/2025/03/10/deploy-checkout-3f2a9c1.json"
    head = s3.head_object(Bucket=BUCKET, Key=first.key)
    assert head["ServerSideEncryption"] == "AES256"
    etag, modified = head["ETag"], head["LastModified"]

    # A retried activity writes the same record (keys in another order): a no-op.
    reordered = dict(reversed(list(ROLLED_BACK.items())))
    second = archive_promotion_record(s3, cfg, when=WHEN, record=reordered, **kwargs)
    assert not second.written and second.sha256 == first.sha256 and second.sse == "AES256"
    head2 = s3.head_object(Bucket=BUCKET, Key=first.key)
    assert (head2["ETag"], head2["LastModified"]) == (etag, modified)
    listed = s3.list_object_versions(Bucket=BUCKET).get("Versions", [])
    assert len(listed) == 1

    body = json.loads(s3.get_object(Bucket=BUCKET, Key=first.key)["Body"].read())
    assert body == ROLLED_BACK


def test_kms_encryption(aws: AwsClients) -> None:
    make_bucket(aws)
    kms: Any = aws.session.client("kms", region_name=REGION, endpoint_url=aws.endpoint_url)
    key_id = kms.create_key(Description="rollway audit")["KeyMetadata"]["KeyId"]
    cfg = AuditArchiveConfig(bucket=BUCKET, kms_key_id=key_id, region=REGION)
    ref = archive_promotion_record(
        aws.s3(), cfg, service="checkout", workflow_id="wf-1", when=WHEN, record=ROLLED_BACK
    )
    assert ref.written and ref.sse == "aws:kms"
    head = aws.s3().head_object(Bucket=BUCKET, Key=ref.key)
    assert head["ServerSideEncryption"] == "aws:kms"
    assert key_id in head["SSEKMSKeyId"]
    again = archive_promotion_record(
        aws.s3(), cfg, service="checkout", workflow_id="wf-1", when=WHEN, record=ROLLED_BACK
    )
    assert not again.written and again.sse == "aws:kms"


def test_different_record_at_same_key_is_a_conflict(aws: AwsClients) -> None:
    make_bucket(aws)
    cfg = AuditArchiveConfig(bucket=BUCKET, region=REGION)
    args: dict[str, Any] = {"service": "checkout", "workflow_id": "wf-2", "when": WHEN}
    archive_promotion_record(aws.s3(), cfg, record=ROLLED_BACK, **args)
    with pytest.raises(AuditConflictError, match="audit records are immutable") as err:
        archive_promotion_record(
            aws.s3(), cfg, record={**ROLLED_BACK, "outcome": "promoted"}, **args
        )
    assert not err.value.retryable


def test_missing_bucket_is_not_found(aws: AwsClients) -> None:
    cfg = AuditArchiveConfig(bucket="no-such-bucket", region=REGION)
    with pytest.raises(AwsError) as err:
        archive_promotion_record(
            aws.s3(), cfg, service="checkout", workflow_id="wf", when=WHEN, record={}
        )
    assert err.value.kind == "not-found" and not err.value.retryable


def bandit_report(tmp_path: Path) -> bytes:
    src = tmp_path / "app.py"
    src.write_text(
        "import subprocess\n\n\ndef run(c):\n    return subprocess.call(c, shell=True)\n"
    )
    out = subprocess.run(
        [sys.executable, "-m", "bandit", "-q", "-f", "sarif", str(src)],
        capture_output=True,
        timeout=60,
        check=False,
    )
    return out.stdout


def test_sarif_reports_from_s3(aws: AwsClients, tmp_path: Path) -> None:
    make_bucket(aws, "ci-reports")
    s3 = aws.s3()
    prefix = f"scans/{SHA}/"
    s3.put_object(Bucket="ci-reports", Key=prefix + "bandit.sarif", Body=bandit_report(tmp_path))
    s3.put_object(
        Bucket="ci-reports",
        Key=prefix + "trivy.sarif.json",
        Body=(FIXTURES / "trivy.sarif").read_bytes(),
    )
    s3.put_object(Bucket="ci-reports", Key=prefix + "notes.txt", Body=b"not a report")
    s3.put_object(Bucket="ci-reports", Key="scans/other/x.sarif", Body=b"{}")

    cfg = S3SarifConfig(bucket="ci-reports", prefix="scans/{commit}/")
    reports = read_sarif_reports(s3, cfg, commit=SHA)
    assert reports.reports == [
        f"s3://ci-reports/{prefix}bandit.sarif",
        f"s3://ci-reports/{prefix}trivy.sarif.json",
    ]
    tools = {f.tool for f in reports.findings}
    assert tools == {"Bandit", "Trivy"}
    b602 = next(f for f in reports.findings if f.id == "B602")
    assert b602.source == f"s3://ci-reports/{prefix}bandit.sarif"

    verdict = evaluate(reports.findings, ScanPolicy(), WHEN)
    assert not verdict.passed
    assert {f.id for f in verdict.blocking} == {"B602", "CVE-2022-37434"}


def test_no_reports_fails_unless_allowed(aws: AwsClients) -> None:
    make_bucket(aws, "ci-reports")
    cfg = S3SarifConfig(bucket="ci-reports", prefix="scans/{commit}/")
    with pytest.raises(AwsError, match="no SARIF reports") as err:
        read_sarif_reports(aws.s3(), cfg, commit=SHA)
    assert not err.value.retryable
    lenient = S3SarifConfig(bucket="ci-reports", prefix="scans/", require_reports=False)
    assert read_sarif_reports(aws.s3(), lenient).findings == []


def test_malformed_report_names_its_s3_uri(aws: AwsClients) -> None:
    make_bucket(aws, "ci-reports")
    doc = json.loads((FIXTURES / "trivy.sarif").read_text())
    doc["runs"][0]["results"][1]["level"] = "fatal"
    doc["runs"][0]["tool"]["driver"]["rules"][1]["properties"].pop("security-severity")
    aws.s3().put_object(Bucket="ci-reports", Key="r/trivy.sarif", Body=json.dumps(doc).encode())
    with pytest.raises(SarifError) as err:
        read_sarif_reports(aws.s3(), S3SarifConfig(bucket="ci-reports", prefix="r/"))
    assert str(err.value).startswith(
        "s3://ci-reports/r/trivy.sarif: runs[0].results[1].level: 'fatal' is not a SARIF level"
    )
