"""`rollway dora -o json` over real promotions on a dev server (the CLI tests' worker path).

A service of its own: promoted, rolled back by its canary analysis, promoted again
(which restores it), and one promotion that failed at build (never a deployment).
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.core import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

import workers.main
from rollway import TASK_QUEUE
from rollway.home import free_port
from rollway.models import PromotionResult
from tests.support.cli import Cli, end_running
from tests.support.fake_world import FakeWorld
from workers import dora_export
from workers.dora_export import DoraCollector
from workers.health import Health, serve

PIPELINE = """\
service: {service}
run: {{command: ["python", "app.py"]}}
build: {{command: ["true"]}}
staging: {{smoke: [{{path: /healthz}}]}}
canary:
  steps: [{{weight: 50, soak: 1s}}]
  analysis:
    interval: 1s
    failure_limit: 1
    metrics: [{{name: success-rate, template: haproxy-success-rate, min: 0.99}}]
dora:
  targets: {{time_to_restore: 15m, change_failure_rate: 5%}}
"""
"""Seed 001's targets: time to restore under 15 minutes, change failure rate under 5 %."""


@dataclass
class Scripted:
    world: FakeWorld
    started: list[str] = field(default_factory=list)  # workflow ids, ended at teardown


@pytest.fixture(scope="module")
async def scripted(dev_env: WorkflowEnvironment) -> AsyncIterator[Scripted]:
    """The worker the CLI tests run (`workers.main.build_worker`), its activities scripted."""
    s = Scripted(FakeWorld())
    with pytest.MonkeyPatch.context() as mp, ThreadPoolExecutor(max_workers=64) as executor:
        mp.setattr(workers.main, "ACTIVITIES", s.world.activities())
        async with workers.main.build_worker(dev_env.client, executor, task_queue=TASK_QUEUE):
            yield s
            await end_running(dev_env.client, s.started)


@pytest.fixture(scope="module")
def cli(dev_env: WorkflowEnvironment, scripted: Scripted, tmp_path_factory: Any) -> Cli:
    return Cli(
        {
            "ROLLWAY_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
            "ROLLWAY_HOME": str(tmp_path_factory.mktemp("home")),
            "COLUMNS": "200",
        }
    )


async def promote(
    cli: Cli, s: Scripted, pipeline: Path, service: str, version: str, *extra: str
) -> dict[str, Any]:
    """`rollway promote … --wait -o json`: the run's result document."""
    commit = uuid.uuid4().hex[:12]
    s.started.append(f"promote-{service}-{commit}")
    r = await cli(
        "promote",
        *("--service", service, "--version", version, "--commit", commit),
        *(
            "--pipeline",
            str(pipeline),
            "--inline",
            "--by",
            "ci-bot",
            "--wait",
            "-o",
            "json",
            *extra,
        ),
    )
    doc: dict[str, Any] = json.loads(r.stdout)
    return doc


async def finished_at(client: Client, workflow_id: str) -> datetime:
    handle = client.get_workflow_handle(workflow_id, result_type=PromotionResult)
    result: PromotionResult = await handle.result()
    assert result.state is not None and result.state.finished_at is not None
    return result.state.finished_at


async def dora_json(cli: Cli, service: str, runs: int) -> dict[str, Any]:
    """`rollway dora --service S -o json` once visibility lists all `runs` closed runs."""
    for _ in range(50):
        r = await cli("dora", "--since", "1h", "--service", service, "-o", "json")
        assert r.exit_code == 0, r.output
        doc: dict[str, Any] = json.loads(r.stdout)
        seen = doc["overall"]["deployments"] + sum(doc["ignored"].values())
        if seen >= runs:
            return doc
        await asyncio.sleep(0.2)
    raise AssertionError(f"visibility never listed {runs} runs: {doc}")


@dataclass
class Ran:
    """The module's promotions of one service of its own, as `promote -o json` reported them."""

    service: str
    committed: datetime
    first: dict[str, Any]
    bad: dict[str, Any]
    fixed: dict[str, Any]


@pytest.fixture(scope="module")
async def ran(cli: Cli, scripted: Scripted, tmp_path_factory: Any) -> Ran:
    """Promoted, rolled back by its analysis, promoted again, failed at build."""
    service = f"dora-{uuid.uuid4().hex[:8]}"
    pipeline = tmp_path_factory.mktemp("pipelines") / f"{service}.yaml"
    pipeline.write_text(PIPELINE.format(service=service))
    world = scripted.world
    committed = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)

    first = await promote(
        cli, scripted, pipeline, service, "v2", "--commit-time", committed.isoformat()
    )
    assert first["outcome"] == "promoted", first
    world.verdicts = ["fail"]  # the next canary's analysis fails: rolled back automatically
    bad = await promote(cli, scripted, pipeline, service, "v3")
    assert bad["outcome"] == "rolled_back", bad
    fixed = await promote(
        cli, scripted, pipeline, service, "v4", "--commit-time", str(int(committed.timestamp()))
    )
    assert fixed["outcome"] == "promoted", fixed
    world.fail["build"] = "compiler error"  # fails before production: not a deployment
    try:
        broken = await promote(cli, scripted, pipeline, service, "v5")
    finally:
        del world.fail["build"]
    assert broken["outcome"] == "failed", broken
    return Ran(service, committed, first, bad, fixed)


async def test_dora_over_real_promotions(cli: Cli, ran: Ran, dev_client: Client) -> None:
    service, committed, first, bad, fixed = (
        ran.service,
        ran.committed,
        ran.first,
        ran.bad,
        ran.fixed,
    )
    doc = await dora_json(cli, service, runs=4)
    (group,) = doc["groups"]
    assert (group["service"], group["environment"]) == (service, "production")
    assert (group["deployments"], group["successful"], group["failed"]) == (3, 2, 1)
    assert doc["ignored"] == {"failed": 1}
    assert group["change_failure_rate"] == pytest.approx(1 / 3)
    assert group["deployments_per_day"] == pytest.approx(2 * 24, rel=0.01)  # 2 in a 1-hour window

    # time to restore: the rolled-back run's end to the next promotion's 100 %
    restored = await finished_at(dev_client, fixed["workflow_id"])
    failed_at = await finished_at(dev_client, bad["workflow_id"])
    assert group["restores"] == 1 and group["unrestored_since"] is None
    assert group["time_to_restore_mean_s"] == pytest.approx((restored - failed_at).total_seconds())
    assert 0 < group["time_to_restore_mean_s"] < 60

    # lead time: the commit time CI passed (ISO and Unix seconds) to each 100 %
    leads = [
        (await finished_at(dev_client, d["workflow_id"]) - committed).total_seconds()
        for d in (first, fixed)
    ]
    assert group["lead_time_samples"] == 2
    assert group["lead_time_median_s"] == pytest.approx(sum(leads) / 2)

    checks = {c["metric"]: c["status"] for c in group["targets"]}
    assert checks == {"time_to_restore_s": "met", "change_failure_rate": "missed"}

    table = await cli("dora", "--since", "1h", "--service", service, "--check")
    assert table.exit_code == 1, table.output  # a target missed
    assert "2 ok / 1 failed" in table.output and "33.3%" in table.output
    assert "change_failure_rate 33.3% should be below 5.0%" in " ".join(table.output.split())


def sample(body: str, name: str, **labels: str) -> float:
    """The value of one sample in a Prometheus text exposition."""
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    raise AssertionError(f"no sample {name} {labels}")


async def test_the_worker_exports_them_on_metrics(cli: Cli, ran: Ran, dev_client: Client) -> None:
    await dora_json(cli, ran.service, runs=4)  # visibility lists every run by now
    collector = DoraCollector(timedelta(hours=1))
    REGISTRY.register(collector)
    server = serve(free_port(), Health(), addr="127.0.0.1")
    try:
        await collector.refresh(dev_client)
        read_once = collector.runs_read
        assert read_once >= 4
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        body = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read())
        text = body.decode()
        key = {"service": ran.service, "environment": "production"}
        assert sample(text, "rollway_dora_deployments", **key, result="success") == 2
        assert sample(text, "rollway_dora_deployments", **key, result="failure") == 1
        assert sample(text, "rollway_dora_change_failure_ratio", **key) == pytest.approx(1 / 3)
        assert 0 < sample(text, "rollway_dora_time_to_restore_mean_seconds", **key) < 60
        lead = sample(text, "rollway_dora_lead_time_median_seconds", **key)
        assert 2 * 3600 < lead < 2 * 3600 + 300
        assert sample(text, "rollway_dora_target_met", **key, metric="change_failure_rate") == 0
        assert sample(text, "rollway_dora_target_met", **key, metric="time_to_restore_s") == 1
        assert sample(text, "rollway_dora_window_seconds") == 3600

        await collector.refresh(dev_client)  # closed runs never change: none read again
        assert collector.runs_read == read_once
    finally:
        server.shutdown()
        server.server_close()
        REGISTRY.unregister(collector)


def test_bad_worker_settings_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROLLWAY_DORA_INTERVAL", "often")
    with pytest.raises(SystemExit, match="ROLLWAY_DORA_INTERVAL='often'"):
        dora_export.settings()
    monkeypatch.setenv("ROLLWAY_DORA_INTERVAL", "0")
    monkeypatch.setenv("ROLLWAY_DORA_LIMIT", "-5")
    with pytest.raises(SystemExit, match="ROLLWAY_DORA_LIMIT='-5'"):
        dora_export.settings()


async def test_bad_flags_are_refused_with_the_fix(cli: Cli) -> None:
    r = await cli("dora", "--since", "forever")
    assert r.exit_code == 2 and "--since 'forever' is not a duration" in " ".join(r.output.split())
    r = await cli("dora", "--service", 'x"y')
    assert r.exit_code == 2 and "quotes and backslashes" in r.output
    r = await cli(
        "promote",
        *("--service", "demo", "--version", "v2", "--commit", "abc1234"),
        *("--pipeline", "pipelines/demo.yaml", "--commit-time", "2026-11-30T10:00:00"),
    )
    assert r.exit_code == 2 and "has no time zone" in r.output
