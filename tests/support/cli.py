"""The CLI against a real Temporal dev server: a runner, a worker with fake activities, helpers.

The worker runs on the test's event loop; every CLI call runs in a thread
(`CliRunner` is synchronous and the CLI runs its own event loop). The fixtures
(`worker`, `end_promotions`, `cli`, `pipeline`) are imported by tests/cli/conftest.py.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner, Result

import workers.main
from rollway import TASK_QUEUE
from rollway.cli.main import app
from rollway.models import PromotionState
from tests.support.fake_world import FakeWorld

PIPELINE = """\
service: demo
owners: [demo-owners]
run: {{command: ["python", "app.py"]}}
environments:
  staging: {{platform: {{kind: local}}}}
  production: {{platform: {{kind: local}}, policy: {{unsigned_decisions: accepted}}}}
build: {{command: ["true"]}}
staging: {{smoke: [{{path: /healthz}}]}}
{approval}
canary:
  steps: [{steps}]
  analysis:
    interval: 1s
    metrics: [{{name: success-rate, template: haproxy-success-rate, min: 0.99}}]
"""


class Cli:
    """Runs `rollway ...` in a thread with the test server's address."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.runner = CliRunner()

    async def __call__(self, *args: str) -> Result:
        r = await asyncio.to_thread(self.runner.invoke, app, list(args), env=self.env)
        assert "Traceback" not in r.output, r.output
        return r


def flat(r: Result) -> str:
    """The output on one line (rich wraps long messages)."""
    return " ".join(r.output.split())


async def end_running(client: Client, ids: list[str], within: float = 20.0) -> None:
    """Terminate the promotions in `ids` that still run; bounded, so teardown never hangs."""

    async def end(wid: str) -> None:
        handle = client.get_workflow_handle(wid)
        if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
            await handle.terminate("test over")

    async with asyncio.timeout(within):
        for wid in ids:
            await end(wid)


@pytest.fixture(scope="module")
async def worker(dev_env: WorkflowEnvironment) -> AsyncIterator[list[str]]:
    """A worker on Rollway's task queue with FakeWorld activities; yields started ids."""
    started: list[str] = []
    with pytest.MonkeyPatch.context() as mp, ThreadPoolExecutor(max_workers=64) as executor:
        mp.setattr(workers.main, "ACTIVITIES", FakeWorld().activities())
        async with workers.main.build_worker(dev_env.client, executor, task_queue=TASK_QUEUE):
            yield started
            await end_running(dev_env.client, started)  # nothing left for other tests


@pytest.fixture(autouse=True)
async def end_promotions(dev_env: WorkflowEnvironment, worker: list[str]) -> AsyncIterator[None]:
    """Each test ends its promotions: a live one holds the service's production lock."""
    yield
    await end_running(dev_env.client, worker)


@pytest.fixture
def cli(dev_env: WorkflowEnvironment, worker: list[str], tmp_path: Path) -> Cli:
    return Cli(
        {
            "ROLLWAY_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
            "ROLLWAY_TEMPORAL_UI": "http://ui.test",
            "ROLLWAY_HOME": str(tmp_path / "home"),
            "COLUMNS": "200",
            # No signing key from the developer's machine: decisions are signed only
            # where a test asks for it (tests/security/test_cli_signing.py).
            "ROLLWAY_SIGNING_KEY": "",
            "SSH_AUTH_SOCK": "",
        }
    )


@pytest.fixture
def pipeline(tmp_path: Path) -> Callable[..., Path]:
    def make(approvals: int | None = 2, steps: str = "{weight: 50, soak: 60s}") -> Path:
        p = tmp_path / "pipelines" / "demo.yaml"
        p.parent.mkdir(exist_ok=True)
        approval = f"approval: {{required: {approvals}}}" if approvals else ""
        p.write_text(PIPELINE.format(approval=approval, steps=steps))
        return p

    return make


def new_commit() -> str:
    return uuid.uuid4().hex[:12]


async def promote(cli: Cli, worker: list[str], pipeline: Path, commit: str, *extra: str) -> Result:
    r = await cli(
        "promote",
        "--service",
        "demo",
        "--version",
        "v2",
        "--commit",
        commit,
        "--pipeline",
        str(pipeline),
        "--inline",  # a file of the test's own: the worker is a development one (FakeWorld)
        "--by",
        "ci-bot",
        *extra,
    )
    worker.append(f"promote-demo-{commit}")
    return r


async def wait_for(
    client: Client, wid: str, ok: Callable[[PromotionState], bool], within: float = 60
) -> PromotionState:
    handle = client.get_workflow_handle(wid)
    deadline = asyncio.get_running_loop().time() + within
    while True:
        state: PromotionState = await handle.query("state", result_type=PromotionState)
        if ok(state):
            return state
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{wid}: condition never met; stage {state.stage}")
        await asyncio.sleep(0.2)
