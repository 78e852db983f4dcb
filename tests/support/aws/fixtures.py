"""AWS fixtures (a pytest plugin): a moto server on a free loopback port, reset per test.

The adapters run their real boto3 code path against it via `endpoint_url`;
`worker_env` instead gives the environment a worker would have (`AWS_ENDPOINT_URL`
and fake keys, any real AWS configuration on the machine hidden), for the
activities, which build their own clients with boto3's default chain.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from rollway.providers.aws import AwsClients
from tests.support.aws.moto import REGION, moto_api


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def session() -> boto3.Session:
    return boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )


@pytest.fixture
def aws(moto_url: str, session: boto3.Session) -> AwsClients:
    """Typed clients on a freshly reset moto (2 attempts: fail fast in tests)."""
    moto_api(moto_url, "reset", b"")
    return AwsClients(REGION, session=session, endpoint_url=moto_url, max_attempts=2)


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
