"""Error mapping: AccessDenied names the IAM action (moto enforcing IAM), throttling retries."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from rollway.providers.aws import AwsClients, AwsError, EcrImageConfig, resolve_image
from rollway.providers.aws.errors import from_botocore_error, from_client_error
from tests.support.aws.moto import REGION, moto_api, push_image, restricted_session

SHA = "3f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39"


def test_access_denied_names_iam_action_and_resource(aws: AwsClients, moto_url: str) -> None:
    push_image(aws, "checkout", SHA)
    session = restricted_session(aws, moto_url)
    worker = AwsClients(REGION, session=session, endpoint_url=moto_url, max_attempts=1)

    # moto enforces IAM policies once INITIAL_NO_AUTH_ACTION_COUNT requests are used up;
    # its `/moto-api/reset-auth` endpoint sets that count: 0 = enforce from now on.
    moto_api(moto_url, "reset-auth", b"0")
    try:
        with pytest.raises(AwsError) as err:
            resolve_image(worker.ecr(), EcrImageConfig(repository="checkout", region=REGION), SHA)
    finally:
        moto_api(moto_url, "reset-auth", b"inf")

    e = err.value
    assert e.kind == "access-denied" and not e.retryable
    assert e.iam_action == "ecr:DescribeImages"
    # moto answers in XML where ECR speaks JSON, so botocore sees only the status as code.
    assert e.code in ("AccessDeniedException", "403")
    assert "may not call ecr:DescribeImages on image " in str(e)
    assert f"/checkout:{SHA}" in str(e)
    assert e.info().model_dump()["iam_action"] == "ecr:DescribeImages"


def client_error(code: str, status: int, op: str, message: str = "") -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, op)


@pytest.mark.parametrize(
    ("code", "status", "kind", "retryable"),
    [
        ("ThrottlingException", 400, "retryable", True),
        ("SlowDown", 503, "retryable", True),
        ("InternalError", 500, "retryable", True),
        ("SomethingNew", 502, "retryable", True),
        ("AccessDeniedException", 400, "access-denied", False),
        ("UnauthorizedOperation", 403, "access-denied", False),
        ("403", 403, "access-denied", False),
        ("RepositoryNotFoundException", 400, "not-found", False),
        ("NoSuchBucket", 404, "not-found", False),
        ("InvalidClientTokenId", 403, "credentials", False),
        ("ValidationException", 400, "invalid", False),
        ("WeirdClientThing", 400, "failed", False),
    ],
)
def test_client_error_classification(code: str, status: int, kind: str, retryable: bool) -> None:
    err = from_client_error(
        client_error(code, status, "DescribeImages"), service="ecr", resource="r"
    )
    assert (err.kind, err.retryable) == (kind, retryable)


def test_s3_operation_maps_to_its_iam_action() -> None:
    err = from_client_error(
        client_error("403", 403, "HeadObject"), service="s3", resource="s3://b/k"
    )
    assert err.iam_action == "s3:GetObject"
    err = from_client_error(
        client_error("AccessDenied", 403, "ListObjectsV2"), service="s3", resource="s3://b/p"
    )
    assert err.iam_action == "s3:ListBucket"


def test_action_and_resource_from_aws_message_win() -> None:
    msg = (
        "User: arn:aws:sts::1:assumed-role/w/i is not authorized to perform: "
        "kms:GenerateDataKey on resource: arn:aws:kms:eu-west-1:1:key/k because no "
        "identity-based policy allows the kms:GenerateDataKey action"
    )
    err = from_client_error(
        client_error("AccessDenied", 403, "PutObject", msg), service="s3", resource="s3://b/k"
    )
    assert err.iam_action == "kms:GenerateDataKey"
    assert err.resource == "arn:aws:kms:eu-west-1:1:key/k"


def test_botocore_errors() -> None:
    net = from_botocore_error(
        EndpointConnectionError(endpoint_url="https://x"), service="ecr", resource="r"
    )
    assert net.retryable
    creds = from_botocore_error(NoCredentialsError(), service="ecr", resource="r")
    assert creds.kind == "credentials" and not creds.retryable
    assert "AWS_PROFILE" in str(creds)


class _Throttler(BaseHTTPRequestHandler):
    """Answers ECR DescribeRepositories: throttled twice, then OK."""

    calls = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).calls += 1
        body: dict[str, Any]
        if type(self).calls <= 2:
            status, body = 400, {"__type": "ThrottlingException", "message": "Rate exceeded"}
        else:
            status, body = (
                200,
                {
                    "repositories": [
                        {
                            "repositoryName": "repo",
                            "registryId": "1",
                            "repositoryUri": "1.dkr.ecr.eu-west-1.amazonaws.com/repo",
                        }
                    ]
                },
            )
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


def test_throttling_is_retried_by_botocore(session: boto3.Session) -> None:
    """Standard retry mode (not a hand-written loop) absorbs throttling."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Throttler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        ecr = AwsClients(REGION, session=session, endpoint_url=url, max_attempts=4).ecr()
        repos = ecr.describe_repositories()["repositories"]
        assert repos[0]["repositoryName"] == "repo" and _Throttler.calls == 3

        _Throttler.calls = 0
        ecr1 = AwsClients(REGION, session=session, endpoint_url=url, max_attempts=2).ecr()
        with pytest.raises(AwsError) as err:
            resolve_image(ecr1, EcrImageConfig(repository="repo", region=REGION), SHA)
        assert err.value.retryable and err.value.kind == "retryable"
    finally:
        server.shutdown()
        thread.join()
