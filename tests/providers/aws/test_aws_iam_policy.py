"""deploy/aws/iam-policy.json grants exactly the AWS calls the adapters make."""

from __future__ import annotations

import json
import re
from pathlib import Path

import boto3

from rollway.providers.aws.errors import iam_action

ROOT = Path(__file__).resolve().parents[3]
POLICY = ROOT / "deploy" / "aws" / "iam-policy.json"
SOURCES = ROOT / "rollway" / "providers" / "aws"

# Permissions AWS checks on our behalf, not named by any API call we make.
INDIRECT = {
    "inspector2:ListFindings",  # DescribeImageScanFindings with enhanced scanning
    "inspector2:ListCoverage",
    "kms:GenerateDataKey",  # PutObject with SSE-KMS
}
CLIENT_VARS = {"codebuild": "codebuild", "ecr": "ecr", "logs": "logs", "s3": "s3"}


def actions_in_code() -> set[str]:
    session = boto3.Session(aws_access_key_id="x", aws_secret_access_key="x")
    found: set[str] = set()
    for path in SOURCES.glob("*.py"):
        text = path.read_text()
        for var, service in CLIENT_VARS.items():
            client = session.client(service, region_name="eu-west-1")  # type: ignore[call-overload]
            mapping: dict[str, str] = client.meta.method_to_api_mapping
            calls = re.findall(rf"\b{var}\.([a-z_0-9]+)\(", text)
            calls += re.findall(rf"\b{var}\.get_paginator\(\"([a-z_0-9]+)\"\)", text)
            prefix = client.meta.service_model.signing_name
            for method in calls:
                if method in mapping:
                    found.add(iam_action(prefix, mapping[method]))
    return found


def actions_in_policy() -> set[str]:
    doc = json.loads(POLICY.read_text())
    out: set[str] = set()
    for stmt in doc["Statement"]:
        assert stmt["Effect"] == "Allow"
        actions = stmt["Action"]
        out.update([actions] if isinstance(actions, str) else actions)
        assert "*" not in "".join(out)  # no wildcard actions
    return out


def test_policy_covers_exactly_the_calls_made() -> None:
    code = actions_in_code()
    assert "ecr:DescribeImages" in code and "s3:ListBucket" in code  # the scan works
    assert actions_in_policy() - INDIRECT == code


def test_policy_resources_are_scoped() -> None:
    doc = json.loads(POLICY.read_text())
    for stmt in doc["Statement"]:
        if stmt["Resource"] == "*":
            assert set(stmt["Action"]) <= INDIRECT, stmt["Sid"]
