"""moto fixtures from tests/providers/aws, plus the worker's environment pointing at moto.

The activities build their own clients (`AwsClients(region)`, boto3's default
chain); `worker_env` makes that chain find moto through `AWS_ENDPOINT_URL` and
fake keys, and hides any real AWS configuration on the machine.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rollway.providers.aws import AwsClients
from tests.providers.aws.conftest import aws, moto_url, session

__all__ = ["aws", "moto_url", "session", "worker_env"]


@pytest.fixture
def worker_env(
    aws: AwsClients, moto_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> AwsClients:
    """A reset moto, and the env vars a worker would have; returns clients for seeding."""
    for var in list(os.environ):
        if var.startswith("AWS_"):
            monkeypatch.delenv(var)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return aws
