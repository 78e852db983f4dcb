"""The CLI against a real Temporal dev server and a worker with test activities.

The worker runs on this test's event loop; every CLI call runs in a thread
(`CliRunner` is synchronous and the CLI runs its own event loop).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

from temporalio.client import Client
from temporalio.common import SearchAttributeKey

from rollway import TASK_QUEUE
from rollway.models import Outcome, Stage
from tests.support.cli import Cli, flat, new_commit, promote, wait_for


async def test_promote_starts_then_attaches(
    cli: Cli, worker: list[str], dev_client: Client, pipeline: Callable[..., Path]
) -> None:
    commit = new_commit()
    wid = f"promote-demo-{commit}"
    r = await promote(cli, worker, pipeline(), commit)
    assert r.exit_code == 0, r.output
    assert f"started promotion {wid}" in flat(r)
    assert f"http://ui.test/namespaces/default/workflows/{wid}" in r.output

    desc = await dev_client.get_workflow_handle(wid).describe()
    assert desc.workflow_type == "PromotionWorkflow"
    assert desc.task_queue == TASK_QUEUE
    attrs = desc.typed_search_attributes
    assert attrs.get(SearchAttributeKey.for_keyword("RollwayService")) == "demo"
    assert attrs.get(SearchAttributeKey.for_keyword("RollwayEnvironment")) == "production"
    assert attrs.get(SearchAttributeKey.for_keyword("RollwayCommit")) == commit

    again = await promote(cli, worker, pipeline(), commit)
    assert again.exit_code == 0, again.output
    assert f"attached to running promotion {wid}" in flat(again)
    # Asked with another label: it says what really runs, not what was asked.
    other = await cli(
        "promote",
        "--service",
        "demo",
        "--version",
        "v9",
        "--commit",
        commit,
        "--pipeline",
        str(pipeline()),
        "--inline",
        "--by",
        "ci-bot",
    )
    assert other.exit_code == 0, other.output
    assert f"attached to running promotion {wid} (demo v2 at {commit[:12]})" in flat(other)
    assert "already being promoted as v2, not v9" in flat(other)
    runs = [w async for w in dev_client.list_workflows(f'WorkflowId="{wid}"')]
    assert len({w.run_id for w in runs}) == 1


async def test_status_approve_pause_rollback(
    cli: Cli, worker: list[str], dev_client: Client, pipeline: Callable[..., Path]
) -> None:
    commit = new_commit()
    wid = f"promote-demo-{commit}"
    # A long soak: pause and rollback must find the canary mid-step however slow the machine.
    steps = "{weight: 50, soak: 600s}"
    assert (await promote(cli, worker, pipeline(approvals=2, steps=steps), commit)).exit_code == 0
    await wait_for(dev_client, wid, lambda s: s.stage == Stage.APPROVAL)

    r = await cli("status", wid)
    assert r.exit_code == 0, r.output
    assert "stage approval" in r.output
    assert "approvals: 0/2, still needed: 2" in r.output
    assert "waiting for approval: waiting: 0/2 from anyone" in flat(r)

    r = await cli("status", wid, "--json")
    assert json.loads(r.stdout)["stage"] == "approval"

    deadline = asyncio.get_running_loop().time() + 60  # list visibility lags under load
    while True:  # by service
        r = await cli("status", "demo")
        if (r.exit_code == 0 and wid in r.output) or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.2)
    assert r.exit_code == 0 and wid in r.output, r.output

    r = await cli("approve", wid, "--by", "alice", "--comment", "looks good")
    assert r.exit_code == 0, r.output
    assert "approved" in r.output and "by alice (1/2); still needed: 1" in flat(r)

    r = await cli("approve", wid, "--by", "alice")
    assert r.exit_code == 1
    assert "refused: alice already approved; duplicate ignored" in flat(r)

    r = await cli("approve", wid, "--by", "bob")
    assert r.exit_code == 0, r.output
    assert "by bob (2/2); no more approvals needed" in flat(r)

    await wait_for(dev_client, wid, lambda s: s.canary is not None and len(s.canary.analyses) > 0)
    r = await cli("approve", wid, "--by", "carol")
    assert r.exit_code == 1
    assert "refused: nothing is awaiting approval; approve ignored" in flat(r)

    r = await cli("pause", wid, "--by", "ops", "--reason", "looking at graphs")
    assert r.exit_code == 0, r.output
    await wait_for(dev_client, wid, lambda s: s.canary is not None and s.canary.paused)
    r = await cli("status", wid)
    assert "PAUSED" in r.output and "50%" in r.output and "step 1/1" in r.output
    assert "success-rate" in r.output  # the last analysis table
    assert (await cli("resume", wid, "--by", "ops")).exit_code == 0

    r = await cli("rollback", wid, "--by", "ops", "--reason", "enough")
    assert r.exit_code == 0, r.output
    assert "rolled_back:" in flat(r) and "by ops: enough" in flat(r)
    state = await wait_for(dev_client, wid, lambda s: s.outcome != Outcome.RUNNING)
    assert state.outcome == Outcome.ROLLED_BACK

    r = await cli("rollback", wid, "--by", "ops")
    assert r.exit_code == 1
    assert "refused: nothing to roll back" in flat(r) and "has ended (rolled_back" in flat(r)
    r = await cli("approve", wid, "--by", "dave")
    assert r.exit_code == 1 and "refused:" in flat(r)


async def test_reject(
    cli: Cli, worker: list[str], dev_client: Client, pipeline: Callable[..., Path]
) -> None:
    commit = new_commit()
    wid = f"promote-demo-{commit}"
    assert (await promote(cli, worker, pipeline(approvals=1), commit)).exit_code == 0
    await wait_for(dev_client, wid, lambda s: s.stage == Stage.APPROVAL)
    r = await cli("reject", wid, "--by", "alice", "--comment", "not today")
    assert r.exit_code == 0, r.output
    state = await wait_for(dev_client, wid, lambda s: s.outcome != Outcome.RUNNING)
    assert state.outcome == Outcome.REJECTED
    assert state.reason == "rejected by alice: not today"


async def test_promote_watch_until_promoted(
    cli: Cli, worker: list[str], pipeline: Callable[..., Path]
) -> None:
    r = await promote(
        cli,
        worker,
        pipeline(approvals=None, steps="{weight: 50, soak: 1s}"),
        new_commit(),
        "--watch",
    )
    assert r.exit_code == 0, r.output
    assert "outcome promoted" in r.output
    assert "v2 serves 100%" in r.output


async def test_unknown_id(cli: Cli) -> None:
    for cmd in (
        ["approve", "promote-demo-0000000", "--by", "alice"],
        ["rollback", "promote-demo-0000000"],
        ["status", "promote-demo-0000000"],
        ["pause", "promote-demo-0000000"],
    ):
        r = await cli(*cmd)
        assert r.exit_code == 1, r.output
        assert "no promotion with id promote-demo-0000000 (see `rollway status <service>`)" in flat(
            r
        )
    r = await cli("status", "no-such-service")
    assert r.exit_code == 1
    assert "no promotion of service 'no-such-service'" in flat(r)
