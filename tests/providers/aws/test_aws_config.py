"""Config models the pipeline spec embeds: validation, JSON round trip, no credentials."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import BaseModel, ValidationError

from rollway.providers.aws import (
    AuditArchiveConfig,
    CodeBuildConfig,
    EcrImageConfig,
    EcrScanConfig,
    S3SarifConfig,
)

MODELS: list[type[BaseModel]] = [
    CodeBuildConfig,
    EcrImageConfig,
    EcrScanConfig,
    S3SarifConfig,
    AuditArchiveConfig,
]


def test_codebuild_config() -> None:
    cfg = CodeBuildConfig.model_validate(
        {"kind": "codebuild", "project": "checkout-build", "region": "eu-west-1", "timeout": "45m"}
    )
    assert cfg.timeout == timedelta(minutes=45)
    assert cfg.model_dump(mode="json")["timeout"] == "45m"
    assert CodeBuildConfig.model_validate_json(cfg.model_dump_json()) == cfg
    with pytest.raises(ValidationError, match="not an AWS region"):
        CodeBuildConfig(project="p1", region="Ireland")
    with pytest.raises(ValidationError, match="between 5m and 36h"):
        CodeBuildConfig(project="p1", region="eu-west-1", timeout="1m")


def test_kinds_and_defaults() -> None:
    assert EcrScanConfig().kind == "ecr"
    sarif = S3SarifConfig(bucket="ci-reports", prefix="scans/{commit}/")
    assert sarif.kind == "s3-sarif" and sarif.require_reports
    audit = AuditArchiveConfig(bucket="audit", prefix="/rollway/audit/", region="us-east-1")
    assert audit.prefix == "rollway/audit" and audit.kms_key_id is None


def test_unknown_fields_rejected_so_credentials_cannot_sneak_in() -> None:
    with pytest.raises(ValidationError, match="aws_secret_access_key"):
        EcrImageConfig.model_validate(
            {"repository": "checkout", "region": "eu-west-1", "aws_secret_access_key": "x"}
        )


@pytest.mark.parametrize("model", MODELS)
def test_no_credential_fields(model: type[BaseModel]) -> None:
    for name in model.model_fields:
        assert not any(w in name for w in ("secret", "password", "access_key", "token"))
