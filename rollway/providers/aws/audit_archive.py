"""Archive promotion records to S3, encrypted, exactly once.

Key: `<prefix>/<service>/<yyyy>/<mm>/<dd>/<workflow-id>.json`, the date taken from
`when` (pass a workflow-determined time, e.g. the workflow's start, so that a retry
on another day writes the same key). The body is canonical JSON (sorted keys) and
its SHA-256 is stored in the object's metadata:

- no object yet: PutObject with `If-None-Match: *` and SSE (AES256 or aws:kms);
- an object with the same SHA-256: nothing is written (`written=False`);
- an object with different content: `AuditConflictError` (records are immutable).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from botocore.exceptions import ClientError

from rollway.models import AuditRecordRef
from rollway.providers.aws.config import AuditArchiveConfig
from rollway.providers.aws.errors import AwsError, aws_errors

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

SHA_METADATA = "rollway-sha256"
_SERVICE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class AuditConflictError(AwsError):
    """A different record already exists at the key; not retryable."""


def audit_key(prefix: str, service: str, workflow_id: str, when: datetime) -> str:
    """`<prefix>/<service>/<yyyy>/<mm>/<dd>/<workflow-id>.json` (UTC date)."""
    if not _SERVICE.fullmatch(service):
        raise AwsError(f"service name {service!r} is not usable in an S3 key", kind="invalid")
    if not workflow_id:
        raise AwsError("an audit record needs a workflow id", kind="invalid")
    if when.tzinfo is None:
        raise AwsError("`when` must be timezone-aware", kind="invalid")
    day = when.astimezone(UTC)
    name = quote(workflow_id, safe="-_.:=@+")
    parts = [prefix.strip("/"), service, f"{day:%Y}", f"{day:%m}", f"{day:%d}", f"{name}.json"]
    return "/".join(p for p in parts if p)


def canonical_json(record: Mapping[str, Any]) -> bytes:
    """Deterministic JSON bytes: sorted keys, no extra whitespace, UTF-8."""
    try:
        text = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise AwsError(f"audit record is not JSON-serialisable: {exc}", kind="invalid") from exc
    return text.encode("utf-8")


def archive_promotion_record(
    s3: S3Client,
    config: AuditArchiveConfig,
    *,
    service: str,
    workflow_id: str,
    when: datetime,
    record: Mapping[str, Any],
) -> AuditRecordRef:
    """Write `record` once, with server-side encryption; repeat calls are no-ops."""
    key = audit_key(config.prefix, service, workflow_id, when)
    uri = f"s3://{config.bucket}/{key}"
    body = canonical_json(record)
    digest = hashlib.sha256(body).hexdigest()
    sse: Literal["AES256", "aws:kms"] = "aws:kms" if config.kms_key_id else "AES256"

    existing = _head(s3, config.bucket, key, uri)
    if existing is None:
        put: dict[str, Any] = {
            "Bucket": config.bucket,
            "Key": key,
            "Body": body,
            "ContentType": "application/json",
            "IfNoneMatch": "*",
            "ServerSideEncryption": sse,
            "Metadata": {SHA_METADATA: digest},
        }
        if config.kms_key_id:
            put["SSEKMSKeyId"] = config.kms_key_id
        with aws_errors(s3, uri):
            try:
                resp = s3.put_object(**put)
            except ClientError as err:
                code = err.response.get("Error", {}).get("Code")
                if code not in ("PreconditionFailed", "ConditionalRequestConflict", "412"):
                    raise
                resp = None  # another attempt won the race: compare below
        if resp is not None:
            return AuditRecordRef(
                bucket=config.bucket,
                key=key,
                uri=uri,
                sha256=digest,
                written=True,
                sse=sse,
                kms_key_id=resp.get("SSEKMSKeyId") or config.kms_key_id,
                version_id=resp.get("VersionId"),
            )
        existing = _head(s3, config.bucket, key, uri)
        if existing is None:
            raise AwsError(f"{uri} vanished while writing it", kind="retryable", resource=uri)

    found = existing.get("Metadata", {}).get(SHA_METADATA)
    if found != digest:
        raise AuditConflictError(
            f"a different audit record already exists at {uri} (sha256 {found or 'unknown'}, "
            f"new {digest}); audit records are immutable: make the record deterministic "
            "(no wall-clock times or attempt numbers) or use a new workflow id",
            kind="failed",
            code="AuditRecordConflict",
            resource=uri,
        )
    actual_sse = existing.get("ServerSideEncryption")
    return AuditRecordRef(
        bucket=config.bucket,
        key=key,
        uri=uri,
        sha256=digest,
        written=False,
        sse="aws:kms" if actual_sse == "aws:kms" else "AES256",
        kms_key_id=existing.get("SSEKMSKeyId"),
        version_id=existing.get("VersionId"),
    )


def _head(s3: S3Client, bucket: str, key: str, uri: str) -> dict[str, Any] | None:
    try:
        with aws_errors(s3, uri):
            return dict(s3.head_object(Bucket=bucket, Key=key))
    except AwsError as err:
        if err.kind == "not-found" and err.code != "NoSuchBucket":
            return None
        if err.kind == "access-denied":
            raise AwsError(
                f"{err.message}. Note: S3 answers 403 instead of 404 for a missing object "
                "when s3:ListBucket is not granted on the bucket",
                kind="access-denied",
                code=err.code,
                operation=err.operation,
                iam_action=err.iam_action,
                resource=err.resource,
            ) from err
        raise
