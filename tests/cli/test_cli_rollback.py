"""`rollway rollback`: flag checks offline, then the command against a dev server's worker."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from rollway.cli.main import app
from rollway.rollback import RollbackInput
from tests.support.binaries import ROOT
from tests.support.cli import Cli, flat, new_commit, promote, wait_for

OFFLINE = {"ROLLWAY_TEMPORAL_ADDRESS": "127.0.0.1:1", "COLUMNS": "200"}


@pytest.fixture
def in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["demo", "--to", "v2", "--previous"], "give either --to VERSION or --previous"),
        (["demo", "--to", "../v2"], "--to '../v2' is not allowed"),
        (["demo", "--environment", "qa"], "--environment qa: not in the pipeline"),
        (["demo", "--wait", "forever"], "--wait forever"),
        (["nope"], "unknown service 'nope'"),
        (["promote-demo-abc1234", "--to", "v2"], "apply to a service, not to a promotion id"),
    ],
)
def test_bad_flags_exit_2_naming_the_flag(in_repo: None, args: list[str], says: str) -> None:
    r = CliRunner().invoke(app, ["rollback", *args], env=OFFLINE)
    assert r.exit_code == 2, r.output
    assert says in " ".join(r.output.split()), r.output


def test_print_input_is_the_workflow_input_as_json(in_repo: None) -> None:
    r = CliRunner().invoke(
        app,
        ["rollback", "demo", "--to", "v2", "--by", "carol", "--reason", "pager", "--print-input"],
        env=OFFLINE,
    )
    assert r.exit_code == 0, r.output
    inp = RollbackInput.model_validate(json.loads(r.output))
    assert (inp.services, inp.to_version, inp.by, inp.reason) == (["demo"], "v2", "carol", "pager")
    assert inp.environment == "production"
    assert inp.pipeline_name == "demo" and inp.pipeline is None  # the worker loads it by name


async def test_a_service_with_nothing_verified_is_refused_and_status_reads_it(
    cli: Cli, pipeline: Callable[..., Path], dev_env: WorkflowEnvironment
) -> None:
    r = await cli(
        "rollback", "demo", "--previous", "--pipeline", str(pipeline()), "--inline", "--by", "ops"
    )
    assert r.exit_code == 1, r.output
    assert "rejected: refused: nothing to roll back to: no release before v1 here" in flat(r)
    wid = next(w for w in r.output.split() if w.startswith("rollback-demo-production-"))
    shown = await cli("get", wid, "-o", "json")
    assert shown.exit_code == 0, shown.output
    state = json.loads(shown.stdout)  # stdout is the document (stderr may warn)
    assert state["outcome"] == "rejected" and state["service"] == "demo"
    assert state["reason"] == "refused: nothing to roll back to: no release before v1 here"
    assert state["stage"] == "done" and state["lock"] == "granted"


async def test_a_running_promotion_is_rolled_back_as_before(
    cli: Cli, worker: list[str], pipeline: Callable[..., Path], dev_env: WorkflowEnvironment
) -> None:
    path = pipeline(approvals=None)
    commit = new_commit()
    assert (await promote(cli, worker, path, commit)).exit_code == 0
    wid = f"promote-demo-{commit}"
    await wait_for(dev_env.client, wid, lambda s: s.stage.value == "canary")
    r = await cli("rollback", "demo", "--pipeline", str(path), "--inline", "--by", "ops")
    assert r.exit_code == 0, r.output
    assert f"{wid} is running: rolling its canary back" in flat(r)
    assert "rolled_back" in flat(r)
