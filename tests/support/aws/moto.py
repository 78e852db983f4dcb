"""Seeding helpers for the moto server: what moto does not simulate, and how we seed it.

Where moto does not simulate something, these helpers seed its state through moto's
own APIs (the `/moto-api/` endpoints, or the in-process backend objects, since
`ThreadedMotoServer` runs in this process); each helper says what and why.
"""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import boto3
import pytest
from moto.backends import get_backend

from rollway.providers.aws import AwsClients

REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's default account


def moto_api(url: str, path: str, body: bytes) -> dict[str, Any]:
    """POST to one of moto's own `/moto-api/` endpoints."""
    req = urllib.request.Request(
        f"{url}/moto-api/{path}",
        data=body,
        method="POST",
        # Not form-encoded, or the server reads the body as a form and sees no data.
        headers={"Content-Type": "application/octet-stream"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else {}


# -- ECR ------------------------------------------------------------------------


def push_image(aws: AwsClients, repository: str, tag: str, *, create: bool = True) -> str:
    """Create the repository (optionally) and put a manifest tagged `tag`; return the digest."""
    ecr = aws.ecr()
    if create:
        ecr.create_repository(repositoryName=repository)
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"digest": f"sha256:{'c' * 64}", "size": 100, "mediaType": "x"},
        "layers": [{"digest": f"sha256:{tag[:8].ljust(64, 'a')}", "size": 1, "mediaType": "y"}],
    }
    resp = ecr.put_image(
        repositoryName=repository, imageManifest=json.dumps(manifest), imageTag=tag
    )
    return resp["image"]["imageId"]["imageDigest"]


def seed_scan_findings(
    url: str,
    repository: str,
    digest: str,
    *,
    findings: list[dict[str, Any]] | None = None,
    enhanced: list[dict[str, Any]] | None = None,
) -> None:
    """moto returns one fixed fake finding for every scan; its `/moto-api/static/ecr/
    scan-finding-results` endpoint lets a test set the DescribeImageScanFindings
    response (content and counts) for one image, which is what we do here."""
    counts: dict[str, int] = {}
    for f in (findings or []) + (enhanced or []):
        counts[f["severity"]] = counts.get(f["severity"], 0) + 1
    body: dict[str, Any] = {"findingSeverityCounts": counts}
    if enhanced is not None:
        body["enhancedFindings"] = enhanced
    else:
        body["findings"] = findings or []
    response = {
        "registryId": ACCOUNT,
        "repositoryName": repository,
        "imageId": {"imageDigest": digest},
        "imageScanStatus": {"status": "COMPLETE", "description": "The scan was completed."},
        "imageScanFindings": body,
    }
    payload = json.dumps({"results": [response], "region": REGION}).encode()
    moto_api(url, "static/ecr/scan-finding-results", payload)


# -- CodeBuild ------------------------------------------------------------------


def create_project(aws: AwsClients, name: str) -> None:
    aws.codebuild().create_project(
        name=name,
        source={"type": "S3", "location": "rollway-src/app.zip"},
        artifacts={"type": "NO_ARTIFACTS"},
        environment={
            "type": "LINUX_CONTAINER",
            "image": "aws/codebuild/standard:7.0",
            "computeType": "BUILD_GENERAL1_SMALL",
        },
        serviceRole=f"arn:aws:iam::{ACCOUNT}:role/codebuild-rollway",
    )


class ScriptedBuilds:
    """Drive moto's CodeBuild builds through phases a test chooses.

    moto marks every build SUCCEEDED on the first BatchGetBuilds and has no logs
    config, env var overrides or failure phases. This replaces the in-process
    backend's `batch_get_builds` so that each call applies the next scripted step
    (a dict merged into moto's own build record) and returns moto's record.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.backend = get_backend("codebuild")[ACCOUNT][REGION]
        self.steps: dict[str, list[dict[str, Any]]] = {}
        self.calls = 0
        monkeypatch.setattr(self.backend, "batch_get_builds", self._batch_get_builds)

    def script(self, build_id: str, *steps: dict[str, Any]) -> None:
        self.steps[build_id] = list(steps)

    def record(self, build_id: str) -> dict[str, Any]:
        for history in self.backend.build_metadata_history.values():
            for build in history:
                if build["id"] == build_id:
                    return build
        raise KeyError(build_id)

    def started(self, project: str) -> list[str]:
        return list(self.backend.build_history.get(project, []))

    def _batch_get_builds(self, ids: list[str]) -> list[dict[str, Any]]:
        self.calls += 1
        out = []
        for build_id in ids:
            try:
                build = self.record(build_id)
            except KeyError:
                continue
            steps = self.steps.get(build_id)
            if steps:
                build.update(steps.pop(0) if len(steps) > 1 else steps[0])
            out.append(build)
        return out


def phase(kind: str, status: str | None = None, message: str | None = None) -> dict[str, Any]:
    p: dict[str, Any] = {"phaseType": kind}
    if status:
        p["phaseStatus"] = status
    if message:
        p["contexts"] = [{"statusCode": "COMMAND_EXECUTION_ERROR", "message": message}]
    return p


# --- CodeBuild logs, ECR findings, IAM, S3: shared by tests/providers/aws and tests/activities

SHA = "3f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39"
PROJECT = "checkout-build"
GROUP = f"/aws/codebuild/{PROJECT}"
BUCKET = "rollway-audit"


def write_log(aws: AwsClients, stream: str, lines: list[str]) -> None:
    logs = aws.logs()
    now_ms = int(time.time() * 1000)  # CloudWatch (and moto) drop events > 14 days old
    logs.create_log_group(logGroupName=GROUP)
    logs.create_log_stream(logGroupName=GROUP, logStreamName=stream)
    logs.put_log_events(
        logGroupName=GROUP,
        logStreamName=stream,
        logEvents=[{"timestamp": now_ms + i, "message": m} for i, m in enumerate(lines)],
    )


def logs_of(build_id: str) -> dict[str, Any]:
    stream = build_id.split(":", 1)[1]
    return {"logs": {"groupName": GROUP, "streamName": stream, "deepLink": "https://console/x"}}


def running(current: str, build_id: str) -> dict[str, Any]:
    return {"buildStatus": "IN_PROGRESS", "currentPhase": current, **logs_of(build_id)}


def critical_enhanced() -> dict[str, object]:
    return {
        "awsAccountId": ACCOUNT,
        "findingArn": f"arn:aws:inspector2:{REGION}:{ACCOUNT}:finding/abc",
        "description": "zlib through 1.2.12 has a heap-based buffer over-read in inflate.",
        "title": "CVE-2022-37434 - zlib",
        "severity": "CRITICAL",
        "score": 9.8,
        "status": "ACTIVE",
        "type": "PACKAGE_VULNERABILITY",
        "packageVulnerabilityDetails": {
            "vulnerabilityId": "CVE-2022-37434",
            "source": "NVD",
            "vulnerablePackages": [
                {
                    "name": "zlib",
                    "version": "1.2.12",
                    "release": "r1",
                    "fixedInVersion": "1.2.12-r2",
                    "packageManager": "OS",
                }
            ],
        },
    }


def high_basic() -> dict[str, object]:
    return {
        "name": "CVE-2023-0286",
        "description": "There is a type confusion vulnerability relating to X.400 addresses.",
        "uri": "https://security-tracker.debian.org/tracker/CVE-2023-0286",
        "severity": "HIGH",
        "attributes": [
            {"key": "package_version", "value": "3.0.7-r0"},
            {"key": "package_name", "value": "libssl3"},
            {"key": "CVSS3_SCORE", "value": "7.4"},
        ],
    }


def restricted_session(aws: AwsClients, moto_url: str) -> boto3.Session:
    """An IAM user in moto that may describe repositories but not images."""
    iam: Any = aws.session.client("iam", region_name=REGION, endpoint_url=moto_url)
    iam.create_user(UserName="rollway-worker")
    iam.put_user_policy(
        UserName="rollway-worker",
        PolicyName="ecr-partial",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "ecr:DescribeRepositories", "Resource": "*"}
                ],
            }
        ),
    )
    key = iam.create_access_key(UserName="rollway-worker")["AccessKey"]
    return boto3.Session(
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
        region_name=REGION,
    )


ROLLED_BACK: dict[str, Any] = {
    "service": "checkout",
    "environment": "prod",
    "commit": SHA,
    "image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/checkout@sha256:" + "a" * 64,
    "outcome": "rolled_back",
    "reason": "canary error rate 4.2% > 1% for 5m",
    "stages": [{"name": "canary", "weight": 10, "verdict": "fail"}],
    "approvals": [{"by": "alice", "at": "2025-03-10T22:00:00Z"}],
}


def make_bucket(aws: AwsClients, name: str = BUCKET) -> None:
    aws.s3().create_bucket(
        Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
