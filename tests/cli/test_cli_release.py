"""`rollway incident|freeze|unfreeze|override|audit` against a real dev server."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from temporalio.client import Client

from rollway.models import Stage
from tests.support.cli import Cli, flat, new_commit, promote, wait_for


async def test_incident_declare_list_resolve(cli: Cli) -> None:
    env = ["--environment", "cli-test-incidents"]
    r = await cli(
        "incident",
        "declare",
        "--id",
        "INC-5",
        "--severity",
        "sev2",
        "--commander",
        "ivy",
        "--summary",
        "checkout errors",
        *env,
        "--by",
        "pager",
    )
    assert r.exit_code == 0, r.output
    assert "INC-5" in r.output and "SEV-2" in r.output

    r = await cli(
        "incident", "declare", "--id", "INC-5", "--severity", "SEV-1", "--commander", "ivy", *env
    )
    assert r.exit_code == 1 and "refused: incident INC-5 is already active" in flat(r)

    r = await cli(
        "incident", "declare", "--id", "INC-6", "--severity", "SEV-9", "--commander", "ivy", *env
    )
    assert r.exit_code == 2 and "--severity" in r.output and "SEV-1" in r.output

    r = await cli("incident", "list", *env)
    assert r.exit_code == 0 and "checkout errors" in r.output

    r = await cli("incident", "resolve", "--id", "INC-404", *env, "--by", "pager")
    assert r.exit_code == 1 and "no active incident INC-404 (active: INC-5)" in flat(r)

    r = await cli(
        "incident", "resolve", "--id", "INC-5", "--reason", "rolled back", *env, "--by", "pager"
    )
    assert r.exit_code == 0 and "no active incidents or freezes" in flat(r)


async def test_freeze_holds_a_promotion_and_unfreeze_releases_it(
    cli: Cli, worker: list[str], dev_client: Client, pipeline: Callable[..., Path]
) -> None:
    r = await cli("freeze", "--reason", "black friday", "--by", "rm-rita")
    assert r.exit_code == 0, r.output
    commit = new_commit()
    wid = f"promote-demo-{commit}"
    try:
        assert (await promote(cli, worker, pipeline(approvals=None), commit)).exit_code == 0
        state = await wait_for(dev_client, wid, lambda s: s.stage == Stage.GATE)
        assert state.gate is not None
        assert any(
            "manual freeze 'manual' by rm-rita: black friday" in x for x in state.gate.reasons
        )
    finally:
        r = await cli("unfreeze", "--reason", "over", "--by", "rm-rita")
    assert r.exit_code == 0, r.output
    await wait_for(dev_client, wid, lambda s: s.stage == Stage.CANARY)

    r = await cli("unfreeze", "--by", "rm-rita")
    assert r.exit_code == 1 and "no freeze manual" in flat(r)


async def test_override_refused_then_audit(
    cli: Cli, worker: list[str], dev_client: Client, pipeline: Callable[..., Path]
) -> None:
    commit = new_commit()
    wid = f"promote-demo-{commit}"
    assert (await promote(cli, worker, pipeline(approvals=1), commit)).exit_code == 0
    await wait_for(dev_client, wid, lambda s: s.stage == Stage.APPROVAL)

    r = await cli("override", wid, "promote_now", "--reason", "hurry", "--by", "mallory")
    assert r.exit_code == 1
    assert "refused: mallory may not override" in flat(r)

    r = await cli("override", wid, "teleport", "--reason", "x")
    assert r.exit_code == 2 and "unknown override 'teleport'" in flat(r)

    assert (await cli("approve", wid, "--by", "alice", "--comment", "ship it")).exit_code == 0

    r = await cli("audit", wid, "--json")
    assert r.exit_code == 0, r.output
    record = json.loads(r.stdout)
    actions = [(a["by"], a["action"], a["accepted"]) for a in record["audit"]]
    assert ("alice", "approve", True) in actions
    r = await cli("audit", wid)
    assert r.exit_code == 0 and "alice" in r.output and "approve" in r.output
