"""AWS adapters (boto3): CodeBuild, ECR, ECR scanning, SARIF from S3, audit archive.

Every function takes an injected boto3 client (build them with `AwsClients`, which
applies botocore's standard retry mode) and returns pydantic models. Errors are
`AwsError` with `retryable` set; see `errors.py`. Credentials come only from the
worker's environment through boto3's default chain.
"""

# Submodules load on first use (rollway.lazy): the spec imports only the config models.
from __future__ import annotations

from typing import TYPE_CHECKING

from rollway.lazy import lazy_attributes

if TYPE_CHECKING:
    from rollway.models import AuditRecordRef, ImageRef
    from rollway.providers.aws.audit_archive import (
        AuditConflictError,
        archive_promotion_record,
        audit_key,
    )
    from rollway.providers.aws.clients import AwsClients
    from rollway.providers.aws.codebuild import (
        BuildCancelledError,
        BuildFailedError,
        BuildInfo,
        BuildProgress,
        CodeBuildRunner,
    )
    from rollway.providers.aws.config import (
        AuditArchiveConfig,
        CodeBuildConfig,
        EcrImageConfig,
        EcrScanConfig,
        S3SarifConfig,
    )
    from rollway.providers.aws.ecr import resolve_image
    from rollway.providers.aws.ecr_scan import EcrScanResult, scan_image
    from rollway.providers.aws.errors import AwsError, AwsErrorInfo, aws_errors, retry_config
    from rollway.providers.aws.s3_sarif import SarifReports, read_sarif_reports

_WHERE = {
    "AuditArchiveConfig": "rollway.providers.aws.config",
    "AuditConflictError": "rollway.providers.aws.audit_archive",
    "AuditRecordRef": "rollway.models",
    "AwsClients": "rollway.providers.aws.clients",
    "AwsError": "rollway.providers.aws.errors",
    "AwsErrorInfo": "rollway.providers.aws.errors",
    "BuildCancelledError": "rollway.providers.aws.codebuild",
    "BuildFailedError": "rollway.providers.aws.codebuild",
    "BuildInfo": "rollway.providers.aws.codebuild",
    "BuildProgress": "rollway.providers.aws.codebuild",
    "CodeBuildConfig": "rollway.providers.aws.config",
    "CodeBuildRunner": "rollway.providers.aws.codebuild",
    "EcrImageConfig": "rollway.providers.aws.config",
    "EcrScanConfig": "rollway.providers.aws.config",
    "EcrScanResult": "rollway.providers.aws.ecr_scan",
    "ImageRef": "rollway.models",
    "S3SarifConfig": "rollway.providers.aws.config",
    "SarifReports": "rollway.providers.aws.s3_sarif",
    "archive_promotion_record": "rollway.providers.aws.audit_archive",
    "audit_key": "rollway.providers.aws.audit_archive",
    "aws_errors": "rollway.providers.aws.errors",
    "read_sarif_reports": "rollway.providers.aws.s3_sarif",
    "resolve_image": "rollway.providers.aws.ecr",
    "retry_config": "rollway.providers.aws.errors",
    "scan_image": "rollway.providers.aws.ecr_scan",
}


__getattr__ = lazy_attributes(__name__, _WHERE)


__all__ = [
    "AuditArchiveConfig",
    "AuditConflictError",
    "AuditRecordRef",
    "AwsClients",
    "AwsError",
    "AwsErrorInfo",
    "BuildCancelledError",
    "BuildFailedError",
    "BuildInfo",
    "BuildProgress",
    "CodeBuildConfig",
    "CodeBuildRunner",
    "EcrImageConfig",
    "EcrScanConfig",
    "EcrScanResult",
    "ImageRef",
    "S3SarifConfig",
    "SarifReports",
    "archive_promotion_record",
    "audit_key",
    "aws_errors",
    "read_sarif_reports",
    "resolve_image",
    "retry_config",
    "scan_image",
]
