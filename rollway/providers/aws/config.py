"""Pipeline-spec config models for the AWS providers.

No model holds credentials: boto3's default chain reads them from the worker's
environment (profile, role, env vars). Regions are explicit so a spec is portable.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from rollway.durations import Duration

_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")


def _check_region(v: str) -> str:
    if not _REGION.fullmatch(v):
        raise ValueError(f"'{v}' is not an AWS region (e.g. 'eu-west-1')")
    return v


def _check_prefix(v: str) -> str:
    return v.strip("/")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CodeBuildConfig(_Strict):
    """Build the commit with an existing CodeBuild project."""

    kind: Literal["codebuild"] = "codebuild"
    project: str = Field(min_length=2, max_length=255)
    region: str
    timeout: Duration = Field(
        default=timedelta(minutes=60),
        description="Build timeout passed to CodeBuild (5m to 36h), e.g. '45m'.",
    )
    poll_interval: Duration = Field(default=timedelta(seconds=10))
    log_tail_lines: int = Field(default=30, ge=0, le=1000)

    _region = field_validator("region")(_check_region)

    @field_validator("timeout")
    @classmethod
    def _timeout_range(cls, v: timedelta) -> timedelta:
        if not timedelta(minutes=5) <= v <= timedelta(hours=36):
            raise ValueError("CodeBuild timeouts must be between 5m and 36h")
        return v


class EcrImageConfig(_Strict):
    """Where the built image lives: tagged with the commit SHA."""

    repository: str = Field(min_length=2, max_length=256, description="Repository name.")
    region: str
    registry_id: str | None = Field(
        default=None, description="Account id of the registry, if not the worker's own."
    )

    _region = field_validator("region")(_check_region)


class EcrScanConfig(_Strict):
    """Scan gate source: ECR image scanning (basic or enhanced) of the resolved image."""

    kind: Literal["ecr"] = "ecr"
    timeout: Duration = Field(default=timedelta(minutes=30))
    poll_interval: Duration = Field(default=timedelta(seconds=10))


class S3SarifConfig(_Strict):
    """Scan gate source: SARIF reports CI uploaded under an S3 prefix."""

    kind: Literal["s3-sarif"] = "s3-sarif"
    bucket: str = Field(min_length=3, max_length=63)
    prefix: str = Field(
        default="",
        description="Key prefix; '{commit}' is replaced by the commit SHA, e.g. 'scans/{commit}/'.",
    )
    region: str | None = None
    require_reports: bool = Field(
        default=True, description="Fail when the prefix holds no SARIF file (CI did not upload)."
    )


class AuditArchiveConfig(_Strict):
    """Where promotion records are archived (SSE always on)."""

    bucket: str = Field(min_length=3, max_length=63)
    prefix: str = "rollway/audit"
    kms_key_id: str | None = Field(
        default=None, description="KMS key id/ARN/alias for aws:kms; None means AES256."
    )
    region: str

    _region = field_validator("region")(_check_region)
    _prefix = field_validator("prefix")(_check_prefix)
