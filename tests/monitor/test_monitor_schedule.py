"""The health monitor on a real dev server: seed 001's cadence, and a failing check halting a canary.

The server computes the schedule's times (zone, daylight saving); the monitor's
workflow and activities are the real ones, the promotion's platform is a
`FakeWorld`.
"""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from temporalio.client import (
    Client,
    ScheduleActionExecutionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleSpec,
)
from temporalio.worker import Worker

from activities.incidents import open_incident
from activities.monitor import declare_monitor_incident, run_health_checks
from rollway.models import ApprovalInput, Stage
from rollway.monitor.report import MonitorInput
from rollway.monitor.schedule import monitor_schedule, schedule_spec
from rollway.monitor.spec import MonitorSpec
from rollway.release_control import ReleaseControlState
from tests.histories.record import save_history
from tests.support.fake_world import FakeWorld
from tests.support.promotions import pipeline, running, wait_until
from tests.support.security.keys import make_key
from tests.support.temporal_servers import bounded
from workflows.monitor import HealthMonitorWorkflow

NEW_YORK = ZoneInfo("America/New_York")
SEED_001 = {
    "environment": "production",
    "timezone": "America/New_York",
    "business_hours": {
        "days": ["mon", "tue", "wed", "thu", "fri"],
        "start": 9,
        "end": 18,
        "every": "5m",
    },
    "off_hours": {"every": "15m"},
    "checks": [{"kind": "dns", "name": "dns", "host": "localhost"}],
}


async def test_seed_001_cadence_every_5_minutes_in_business_hours_15_off(
    dev_client: Client,
) -> None:
    monitor = MonitorSpec.model_validate(SEED_001)
    spec = schedule_spec(monitor)
    # From Friday 17:30 New York: business hours end at 18:00, the weekend is off-hours.
    spec.start_at = datetime(2027, 1, 8, 17, 30, tzinfo=NEW_YORK)
    sid = f"monitor-cadence-{uuid.uuid4().hex[:8]}"
    inp = MonitorInput(service="demo", monitor=monitor)
    handle = await dev_client.create_schedule(sid, monitor_schedule(inp, "unused", spec))
    try:
        times = [t.astimezone(NEW_YORK) for t in (await handle.describe()).info.next_action_times]
    finally:
        await bounded(handle.delete())
    local = [f"{t:%a %H:%M}" for t in times]
    assert local[:10] == [
        "Fri 17:30",
        "Fri 17:35",
        "Fri 17:40",
        "Fri 17:45",
        "Fri 17:50",
        "Fri 17:55",
        "Fri 18:00",
        "Fri 18:15",
        "Fri 18:30",
        "Fri 18:45",
    ], local


async def test_a_failing_check_declares_an_incident_that_halts_the_canary(
    dev_client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The monitor is authorized like a person: on call, and its declaration signed with
    # the worker's monitor key (release control here refuses unsigned declarations).
    key = make_key(tmp_path, "monitor", "ed25519")
    signers = tmp_path / "allowed_signers"
    signers.write_text(key.allowed_line("rollway-monitor", 'namespaces="rollway-decision"') + "\n")
    monkeypatch.setenv("ROLLWAY_MONITOR_KEY", str(key.private))
    monkeypatch.setenv("ROLLWAY_ALLOWED_SIGNERS", str(signers))
    world = FakeWorld(control_unsigned=False)
    world.groups["on-call"] = ["rollway-monitor"]
    monitor_queue = f"monitor-{uuid.uuid4()}"
    async with running(dev_client, world, pipeline()) as promotion:
        await wait_until(promotion, lambda s: s.stage == Stage.APPROVAL)
        await promotion.signal("approve", ApprovalInput(by="alice"))
        await wait_until(promotion, lambda s: s.stage == Stage.CANARY and s.canary is not None)
        queue = (await promotion.describe()).task_queue
        control = f"release-control-{queue}"
        monitor = MonitorSpec.model_validate(
            {
                "checks": [{"kind": "dns", "name": "api-dns", "host": "no-such-host.invalid"}],
                "on_failure": {"declare_incident": {"commander": "oncall-olga"}},
            }
        )
        inp = MonitorInput(service="demo", monitor=monitor, release_control=control)
        every_second = ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=1))])
        sid = f"monitor-demo-{uuid.uuid4().hex[:8]}"
        with ThreadPoolExecutor(4) as pool:
            async with Worker(
                dev_client,
                task_queue=monitor_queue,
                workflows=[HealthMonitorWorkflow],
                activities=[run_health_checks, declare_monitor_incident, open_incident],
                activity_executor=pool,
            ):
                schedule = await dev_client.create_schedule(
                    sid, monitor_schedule(inp, monitor_queue, every_second)
                )
                try:
                    state = await wait_until(promotion, lambda s: s.halted_by is not None)
                    await asyncio.sleep(2.5)  # more runs: still one incident
                    info = (await schedule.describe()).info
                    runs = info.num_actions
                    action = info.recent_actions[0].action
                    assert isinstance(action, ScheduleActionExecutionStartWorkflow)
                    first = dev_client.get_workflow_handle(action.workflow_id)
                    await first.result()
                    save_history(await first.fetch_history(), "monitor-failing-declares-incident")
                finally:
                    await bounded(schedule.delete())
        snapshot = await dev_client.get_workflow_handle(control).query(
            "state", result_type=ReleaseControlState
        )
    assert state.halted_by is not None and "monitor-demo" in state.halted_by
    assert "IC oncall-olga" in state.halted_by
    assert runs >= 2
    [incident] = snapshot.snapshot.incidents
    assert incident.id == "monitor-demo" and incident.declared_by == "rollway-monitor"
    declared = [a for a in snapshot.audit if a.action.startswith("declare incident monitor-demo")]
    assert declared and declared[0].accepted, declared  # unsigned would have been refused
    assert "api-dns: no-such-host.invalid does not resolve" in incident.summary
