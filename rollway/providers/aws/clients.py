"""boto3 clients with Rollway's retry configuration.

Credentials are never passed in: boto3's default chain finds them in the worker's
environment (AWS_PROFILE, an instance/task/IRSA role, or AWS_* variables). Tests
pass a `boto3.Session` and an `endpoint_url` pointing at moto.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3

from rollway.providers.aws.errors import retry_config

if TYPE_CHECKING:
    from mypy_boto3_codebuild import CodeBuildClient
    from mypy_boto3_ecr import ECRClient
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_s3 import S3Client


class AwsClients:
    """Build typed clients for one region; every client retries throttling and 5xx."""

    def __init__(
        self,
        region: str,
        *,
        session: boto3.Session | None = None,
        endpoint_url: str | None = None,
        max_attempts: int = 8,
    ) -> None:
        self.region = region
        self.session = session or boto3.Session()
        self.endpoint_url = endpoint_url
        self.config = retry_config(max_attempts=max_attempts)

    def _kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {"region_name": self.region, "config": self.config}
        if self.endpoint_url:
            kw["endpoint_url"] = self.endpoint_url
        return kw

    def codebuild(self) -> CodeBuildClient:
        """A CodeBuild client."""
        return self.session.client("codebuild", **self._kwargs())

    def ecr(self) -> ECRClient:
        """An ECR client."""
        return self.session.client("ecr", **self._kwargs())

    def logs(self) -> CloudWatchLogsClient:
        """A CloudWatch Logs client."""
        return self.session.client("logs", **self._kwargs())

    def s3(self) -> S3Client:
        """An S3 client."""
        return self.session.client("s3", **self._kwargs())
