"""A moto server on a free loopback port, reset before each test.

The adapters run their real boto3 code path against it via `endpoint_url`;
`awsmoto.py` holds the helpers that seed what moto does not simulate.
"""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer

from rollway.providers.aws import AwsClients
from tests.providers.aws.awsmoto import REGION, moto_api


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
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
