"""AWS adapters (boto3): CodeBuild, ECR, ECR scanning, SARIF from S3, audit archive.

Every function takes an injected boto3 client (build them with `AwsClients`, which
applies botocore's standard retry mode) and returns pydantic models. Errors are
`AwsError` with `retryable` set; see `errors.py`. Credentials come only from the
worker's environment through boto3's default chain.
"""

from rollway.providers.aws.audit_archive import (
    AuditConflictError,
    AuditRecordRef,
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
from rollway.providers.aws.ecr import ImageRef, resolve_image
from rollway.providers.aws.ecr_scan import EcrScanResult, scan_image
from rollway.providers.aws.errors import AwsError, AwsErrorInfo, aws_errors, retry_config
from rollway.providers.aws.s3_sarif import SarifReports, read_sarif_reports

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
