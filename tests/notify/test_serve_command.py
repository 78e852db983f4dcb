"""`rollway serve` as users run it: a process, the groups file, Slack-signed requests."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.error import HTTPError
from urllib.parse import urlencode
from urllib.request import Request, urlopen

import pytest
from slack_sdk.signature import SignatureVerifier
from temporalio.testing import WorkflowEnvironment

SECRET = "serve-test-signing-secret-0123456789"
CLI = (sys.executable, "-c", "from rollway.cli.main import main; main()")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def serve(dev_env: WorkflowEnvironment, tmp_path: Path) -> Iterator[str]:
    groups = tmp_path / "groups.yaml"
    groups.write_text("groups: {release-managers: [alice]}\nslack_users: {U0ALICE1: alice}\n")
    port = free_port()
    env = {
        **os.environ,
        "SLACK_SIGNING_SECRET": SECRET,
        "ROLLWAY_GROUPS_FILE": str(groups),
        "ROLLWAY_HOME": str(tmp_path / "home"),
    }
    address = dev_env.client.service_client.config.target_host
    proc = subprocess.Popen(
        [*CLI, "--address", address, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"rollway serve did not listen: {proc.stderr}")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/slack/actions"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        assert proc.stderr is not None
        proc.stderr.close()


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    try:
        with urlopen(Request(url, data=body, headers=headers, method="POST"), timeout=10) as r:
            return r.status, r.read().decode()
    except HTTPError as e:
        return e.code, e.read().decode()


def test_serve_refuses_unsigned_and_answers_signed_requests(serve: str) -> None:
    payload = {
        "type": "block_actions",
        "user": {"id": "U0ALICE1"},
        "actions": [{"action_id": "rollway_approve", "value": "promote-demo-nosuchcommit"}],
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    status, text = post(serve, body, form)
    assert status == 401 and "signature" in text
    ts = str(int(time.time()))
    sig = SignatureVerifier(SECRET).generate_signature(timestamp=ts, body=body)
    assert sig is not None
    headers = form | {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig}
    status, text = post(serve, body, headers)
    # Mapped through the groups file to alice, delivered to Temporal, which knows no such
    # promotion.
    assert status == 200, text
    assert json.loads(text)["text"] == "promote-demo-nosuchcommit is not running any more"
