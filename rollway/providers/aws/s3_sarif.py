"""Read the SARIF reports CI uploaded to S3 and parse them with `rollway.scan.sarif`.

Every object under the prefix whose key ends in `.sarif` or `.sarif.json` is read.
An empty prefix fails by default (`require_reports`): a gate that passes because
CI never uploaded its reports would be a silent hole.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from rollway.providers.aws.config import S3SarifConfig
from rollway.providers.aws.errors import AwsError, aws_errors
from rollway.scan.findings import Finding
from rollway.scan.sarif import parse_sarif_text

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

SARIF_SUFFIXES = (".sarif", ".sarif.json")
MAX_REPORT_BYTES = 64 * 1024 * 1024


class SarifReports(BaseModel):
    """What was read: the report URIs and every finding in them."""

    bucket: str
    prefix: str
    reports: list[str] = Field(default_factory=list, description="s3:// URIs read, in key order.")
    findings: list[Finding] = Field(default_factory=list)


def report_prefix(config: S3SarifConfig, commit: str | None = None) -> str:
    """The prefix to list, with `{commit}` filled in."""
    if "{commit}" in config.prefix:
        if not commit:
            raise AwsError(f"prefix {config.prefix!r} needs a commit SHA", kind="invalid")
        return config.prefix.replace("{commit}", commit)
    return config.prefix


def read_sarif_reports(
    s3: S3Client, config: S3SarifConfig, *, commit: str | None = None
) -> SarifReports:
    """List, download and parse the SARIF reports under the configured prefix.

    Raises `AwsError` for S3 problems and `SarifError` (naming the s3:// URI and the
    JSON path) for a malformed report; neither is retryable except throttling/5xx.
    """
    prefix = report_prefix(config, commit)
    where = f"s3://{config.bucket}/{prefix}"
    keys: list[tuple[str, int]] = []
    with aws_errors(s3, where):
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=config.bucket, Prefix=prefix
        ):
            for obj in page.get("Contents", []):
                if obj["Key"].lower().endswith(SARIF_SUFFIXES):
                    keys.append((obj["Key"], int(obj.get("Size", 0))))
    if not keys and config.require_reports:
        raise AwsError(
            f"no SARIF reports (*.sarif, *.sarif.json) under {where}; did CI upload them?",
            kind="not-found",
            resource=where,
        )
    result = SarifReports(bucket=config.bucket, prefix=prefix)
    for key, size in sorted(keys):
        uri = f"s3://{config.bucket}/{key}"
        if size > MAX_REPORT_BYTES:
            raise AwsError(
                f"{uri} is {size} bytes, over the {MAX_REPORT_BYTES} byte limit for a report",
                kind="invalid",
                resource=uri,
            )
        with aws_errors(s3, uri):
            body = s3.get_object(Bucket=config.bucket, Key=key)["Body"].read()
        result.findings.extend(parse_sarif_text(body, uri))
        result.reports.append(uri)
    return result
