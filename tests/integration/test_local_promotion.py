"""End to end on the real local stack: real HAProxy, Prometheus, processes and traffic."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import httpx
import pytest

from rollway.models import Outcome
from rollway.platform.local import LocalPlatform
from rollway.spec import PipelineSpec
from tests.histories.record import save_history
from tests.support.local_stack import (
    PRODUCTION,
    LocalStack,
    approve_when_asked,
    fast_pipeline,
    finish,
    load,
    platform,
    promote,
)
from workflows.promotion import PromotionWorkflow


@pytest.fixture(scope="module")
async def v1_live(local_stack: LocalStack) -> PipelineSpec:
    """v1 as the first stable version (a first version goes straight to 100 %)."""
    spec = fast_pipeline()
    h = await promote(local_stack, "v1", spec)
    await approve_when_asked(local_stack.client, h)
    result = await finish(h)
    assert result.outcome == Outcome.PROMOTED, result.reason
    return spec


async def test_good_version_reaches_full_traffic_without_dropping_a_request(
    local_stack: LocalStack, v1_live: PipelineSpec
) -> None:
    spec = v1_live
    plat = platform(local_stack, spec)
    url = plat.status(PRODUCTION).frontend_url
    assert url is not None
    async with load(url, local_stack.home / "load-good.json") as stats_file:
        h = await promote(local_stack, "v2", spec)
        await approve_when_asked(local_stack.client, h)
        result = await finish(h)
        await asyncio.sleep(1.5)
    stats = json.loads(stats_file.read_text())
    state = await h.query(PromotionWorkflow.query_state)
    save_history(await h.fetch_history(), "local-good-promotion")

    assert result.outcome == Outcome.PROMOTED, result.reason
    status = plat.status(PRODUCTION)
    assert status.stable is not None and status.stable.version == "v2"
    assert status.stable.weight == 100 and status.canary is None
    assert status.previous_stable == "v1"
    assert plat.haproxy.weights("demo.production") == {"v2": 100}, "v1 must be retired"
    assert httpx.get(url).text.strip() == "hello from v2"
    # Traffic never dropped: no connection errors, no 5xx, and both versions served.
    assert stats.get("connection_errors", 0) == 0, stats
    assert stats.get("status_503", 0) == 0 and stats.get("status_500", 0) == 0, stats
    assert stats["version_v1"] > 0 and stats["version_v2"] > 0
    # Every step ran its analysis against live metrics and passed.
    assert state.canary is not None and state.canary.analyses
    last = state.canary.analyses[-1]
    assert last.status == "pass"
    rate = next(m for m in last.metrics if m.name == "success-rate")
    assert rate.value is not None and rate.value >= 0.97 and (rate.samples or 0) >= 15
    # The version's process is not the worker's child: killing the worker leaves it serving.
    ppid = int(Path(f"/proc/{_pid_of(plat, 'v2')}/stat").read_text().rsplit(")", 1)[1].split()[1])
    assert ppid != os.getpid()


async def test_bad_version_is_rolled_back_automatically(
    local_stack: LocalStack, v1_live: PipelineSpec
) -> None:
    spec = v1_live
    plat = platform(local_stack, spec)
    stable_before = plat.status(PRODUCTION).stable
    assert stable_before is not None
    url = plat.status(PRODUCTION).frontend_url
    assert url is not None
    async with load(url, local_stack.home / "load-bad.json") as stats_file:
        h = await promote(local_stack, "v3", spec)  # releases/v3.json: 10 % errors
        await approve_when_asked(local_stack.client, h)
        result = await finish(h)
    stats = json.loads(stats_file.read_text())
    state = await h.query(PromotionWorkflow.query_state)
    save_history(await h.fetch_history(), "local-bad-rolled-back")

    assert result.outcome == Outcome.ROLLED_BACK, result.reason
    assert "success-rate" in result.reason
    failing = {m.name: m for m in state.rollback_metrics}
    assert failing["success-rate"].value is not None and failing["success-rate"].value < 0.97
    status = plat.status(PRODUCTION)
    assert status.canary is None
    assert status.stable is not None and status.stable.version == stable_before.version
    assert status.stable.weight == 100
    assert plat.haproxy.weights("demo.production") == {stable_before.version: 100}
    assert stats.get("connection_errors", 0) == 0, stats
    assert stats.get("status_500", 0) > 0, "the canary really served errors"
    # From the decision to weight 0: the rollback entry follows the failed analysis at once.
    decided = next(e.at for e in state.timeline if e.message.startswith("rolling back"))
    zeroed = next(e.at for e in state.timeline if "canary at 0%" in e.message)
    assert (zeroed - decided).total_seconds() < 1.0
    first_traffic = next(e.at for e in state.timeline if e.message.startswith("canary at 20%"))
    print(
        f"\nbad version: first canary traffic -> weight 0 in "
        f"{(zeroed - first_traffic).total_seconds():.1f}s"
    )


def _pid_of(plat: LocalPlatform, version: str) -> int:
    data = json.loads((plat.state_dir / "demo.production.json").read_text())
    for role in ("stable", "canary"):
        if data.get(role) and data[role]["version"] == version:
            return int(data[role]["process"]["pid"])
    raise AssertionError(f"{version} is not running")
