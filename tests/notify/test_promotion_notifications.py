"""Notifications on the real workflow (time-skipping server): a Slack thread from start to
rollback, no duplicate after an activity retry, an outage that fails nothing, and no new
command at all for a pipeline without `notifications:`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from activities.notify import notify
from rollway.models import ActionInput, ApprovalInput, Outcome
from tests.histories.record import save_history
from tests.support.fake_world import FakeWorld
from tests.support.promotions import pipeline, running, wait_stage, wait_until
from tests.support.slack_api import TOKEN, SlackApiServer, slack_api
from tests.support.webhook_receiver import WebhookReceiver, webhook_receiver


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[SlackApiServer]:
    monkeypatch.setenv("TEST_SLACK_TOKEN", TOKEN)
    with slack_api() as server:
        yield server


@pytest.fixture
def hook(monkeypatch: pytest.MonkeyPatch) -> Iterator[WebhookReceiver]:
    with webhook_receiver() as receiver:
        monkeypatch.setenv("TEST_WEBHOOK_URL", receiver.url)
        yield receiver


def slack(api: SlackApiServer, **kw: Any) -> dict[str, Any]:
    return {
        "kind": "slack",
        "channel": "#deploy-notifications",
        "token_env": "TEST_SLACK_TOKEN",
        "api_url": api.url,
        **kw,
    }


def patches(history: WorkflowHistory) -> list[str]:
    """The ids of the `workflow.patched` markers in a history."""
    return [
        json.loads(e.marker_recorded_event_attributes.details["patch-data"].payloads[0].data)["id"]
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
    ]


def scheduled(history: WorkflowHistory) -> list[str]:
    """The names of the activities a history scheduled, in order."""
    return [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]


def reply_titles(api: SlackApiServer) -> list[str]:
    return [r.text.split(":")[0] for r in api.state.thread("C0DEPLOY01")[1]]


async def test_a_slack_thread_from_start_to_rollback_without_duplicates(
    ts_client: Client, api: SlackApiServer, hook: WebhookReceiver
) -> None:
    world = FakeWorld(verdicts=["pass"] * 15 + ["fail", "fail"])  # 5 % passes, 25 % fails
    spec = pipeline(
        notifications=[
            slack(api),
            {"kind": "webhook", "url_env": "TEST_WEBHOOK_URL", "events": ["rolled_back"]},
        ]
    )
    # The first update of the promotion's message is rate limited (Retry-After: 1).
    api.state.fault("chat.update", "ratelimited", retry_after=1)
    async with running(ts_client, world, spec, real=[notify]) as h:
        await wait_stage(h, "approval")
        # The next post (whichever event's it is) lands, but its answer is lost on the way
        # back: the activity fails and its retry must find the message, not post it again.
        api.state.fault("chat.postMessage", "lost")
        await h.signal("approve", ApprovalInput(by="alice"))
        result = await h.result()
        save_history(await h.fetch_history(), "notify-slack-thread-rolled-back")
        history = await h.fetch_history()
    assert result.outcome == Outcome.ROLLED_BACK
    assert not api.state.faults, "both faults were hit"
    top, replies = api.state.thread("C0DEPLOY01")
    assert reply_titles(api) == [
        "Promotion of demo v2 started",
        "Awaiting approval for production",
        "Canary at 5% (step 1 of 3)",
        "Canary at 25% (step 2 of 3)",
        "demo v2 rolled back",
    ]
    keys = [r.metadata["event_payload"]["key"] for r in replies if r.metadata]
    assert len(keys) == len(set(keys)) == 5
    # The promotion's message was updated in place to the outcome: by the four events
    # after the first, and once more by the retried one (an update is idempotent).
    assert top.edited == 5 and top.text.startswith("demo v2 → production: rolled_back")
    approval = str(replies[1].blocks)
    assert f"Run: `rollway approve {h.id} --by &lt;you&gt;`" in approval  # mrkdwn-escaped
    assert "*May approve*\\nanyone" in approval, approval
    rolled_back = str(replies[-1].blocks)
    assert "analysis failed 2 time(s) in a row" in rolled_back
    assert "`success-rate` 0.9 (min 0.99)" in rolled_back
    # The webhook asked only for the rollback, and got it once.
    assert hook.kinds() == ["rolled_back"]
    assert hook.received[0].headers["Idempotency-Key"].startswith(f"{h.id}/")
    # One activity retried (the lost answer) and nothing was sent twice.
    attempts = [
        e.activity_task_started_event_attributes.attempt
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    ]
    assert max(attempts) == 2
    assert result.state is not None
    assert not [t for t in result.state.timeline if t.message.startswith("warning:")]
    # No secret in the history: the token and the webhook URL are read on the worker.
    text = history.to_json()
    assert TOKEN not in text and "s3cr3t" not in text


async def test_a_slack_outage_fails_nothing_and_is_a_warning(
    ts_client: Client, api: SlackApiServer
) -> None:
    api.state.down = True
    world = FakeWorld()
    spec = pipeline(approval=None, notifications=[slack(api, events=["started", "promoted"])])
    async with running(ts_client, world, spec, real=[notify]) as h:
        result = await h.result()
    assert result.outcome == Outcome.PROMOTED
    assert result.state is not None
    warnings = [t.message for t in result.state.timeline if t.message.startswith("warning:")]
    assert len(warnings) == 2, warnings
    assert "slack #deploy-notifications was not told 'started'" in warnings[0]
    assert "HTTP 503" in warnings[0]
    # Five bounded attempts per event, each stopped by its first call; a retry looks for
    # an earlier delivery (conversations.list, to find the channel) before posting.
    assert len(api.state.calls) == 10
    assert api.state.called("chat.postMessage") == 2


async def test_a_pipeline_without_notifications_records_no_new_command(
    ts_client: Client,
) -> None:
    world = FakeWorld()
    async with running(ts_client, world, pipeline(approval=None)) as h:
        assert (await h.result()).outcome == Outcome.PROMOTED
        history = await h.fetch_history()
    assert "notifications" not in patches(history)
    assert "notify" not in scheduled(history)
    assert world.notified == []


async def test_each_target_gets_only_its_events(ts_env: WorkflowEnvironment) -> None:
    world = FakeWorld(verdicts=["inconclusive"] * 500)
    spec = pipeline(
        approval=None,
        notifications=[
            {"kind": "webhook", "url_env": "A_URL", "events": ["paused"]},
            {"kind": "webhook", "url_env": "B_URL", "events": ["started", "promoted"]},
        ],
    )
    async with running(ts_env.client, world, spec) as h:
        await wait_stage(h, "canary")
        await ts_env.sleep(timedelta(hours=1))  # three inconclusive analyses pause it
        await wait_until(h, lambda s: s.canary is not None and s.canary.paused)
        await h.signal("abort", ActionInput(by="carol", reason="enough"))
        result = await h.result()
        history = await h.fetch_history()
    assert result.outcome == Outcome.ROLLED_BACK
    assert "notifications" in patches(history)
    assert scheduled(history).count("notify") == 2
    sent = [(i.target.url_env, i.event.kind.value) for i in world.notified]
    assert sent == [("B_URL", "started"), ("A_URL", "paused")]
    assert [i.event.seq for i in world.notified] == [1, 3]  # one sequence for all events


async def test_a_stuck_rollback_is_told_at_each_level_then_the_failure(ts_client: Client) -> None:
    world = FakeWorld(verdicts=["fail", "fail"])
    world.fail["rollback"] = "HAProxy runtime API refused the weight"
    spec = pipeline(
        approval=None,
        notifications=[
            {"kind": "webhook", "url_env": "HOOK", "events": ["rollback_stuck", "failed"]}
        ],
    )
    async with running(ts_client, world, spec) as h:
        result = await h.result()
    assert result.outcome == Outcome.FAILED
    events = [i.event for i in world.notified]
    assert [e.kind.value for e in events] == ["rollback_stuck"] * 3 + ["failed"]
    assert "HAProxy runtime API refused the weight" in events[0].text
    assert events[-1].details["Traffic"] == "demo/production v1 95%, v2 5%"
    assert "canary still serves traffic" in events[-1].text
