"""The Slack provider against a local Slack Web API: real slack-sdk requests and answers."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from rollway.metrics.results import MetricResult
from rollway.notify.base import Attempt, NotifyError
from rollway.notify.events import NotificationEvent, NotifyInput, NotifyResult
from rollway.notify.slack import SlackProvider
from rollway.notify.spec import EventKind, NotificationTarget
from tests.support.slack_api import TOKEN, SlackApiServer, slack_api


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[SlackApiServer]:
    monkeypatch.setenv("TEST_SLACK_TOKEN", TOKEN)
    with slack_api() as server:
        yield server


def target(api: SlackApiServer, **kw: Any) -> NotificationTarget:
    spec = {"kind": "slack", "channel": "#deploy-notifications", "token_env": "TEST_SLACK_TOKEN"}
    return NotificationTarget.model_validate({**spec, "api_url": api.url, **kw})


def event(seq: int, kind: EventKind = EventKind.CANARY_STEP, **kw: Any) -> NotificationEvent:
    base: dict[str, Any] = {
        "kind": kind,
        "seq": seq,
        "at": datetime(2026, 12, 1, 9, 0, tzinfo=UTC),
        "workflow_id": "promote-demo-abc1234",
        "service": "demo",
        "version": "v2",
        "commit": "abc1234",
        "environment": "production",
        "title": f"event {seq}",
        "summary": f"status after event {seq}",
    }
    return NotificationEvent.model_validate({**base, **kw})


class Sender:
    """Sends events like the workflow does: the thread kept after the first post."""

    def __init__(self, t: NotificationTarget) -> None:
        self.provider = SlackProvider(t, 0)
        self.t = t
        self.thread: Any = None
        self.heartbeat: dict[str, str] = {}

    def inp(self, e: NotificationEvent) -> NotifyInput:
        return NotifyInput(
            target=self.t,
            target_index=0,
            event=e,
            key=f"promote-demo-abc1234/run#{e.seq}",
            thread_key="promote-demo-abc1234/run#thread-0",
            thread=self.thread,
        )

    def send(self, e: NotificationEvent, *, retry: bool = False) -> NotifyResult:
        attempt = Attempt(retry=retry, progress=dict(self.heartbeat), record=self.record)
        result = self.provider.send(self.inp(e), attempt)
        self.thread = result.thread or self.thread
        self.heartbeat = {}  # a new activity: no heartbeat from the last one
        return result

    def record(self, progress: dict[str, str]) -> None:
        self.heartbeat = dict(progress)


def test_one_message_per_promotion_updated_in_place_events_in_its_thread(
    api: SlackApiServer,
) -> None:
    s = Sender(target(api))
    s.send(event(1, EventKind.STARTED))
    s.send(event(2))
    s.send(
        event(
            3,
            EventKind.ROLLED_BACK,
            outcome="rolled_back",
            summary="rolled_back: error rate too high",
            metrics=[MetricResult(name="error-rate", status="fail", value=0.2, max=0.01)],
        )
    )
    top, replies = api.state.thread("C0DEPLOY01")
    assert [r.text for r in replies] == ["event 1", "event 2", "event 3"]
    assert top.edited == 2 and "rolled_back: error rate too high" in top.text
    assert (
        top.blocks[0]["type"] == "header"
        and "demo v2 → production" in top.blocks[0]["text"]["text"]
    )
    metrics = replies[2].blocks[-1]["text"]["text"]
    assert "`error-rate` 0.2 (max 0.01)" in metrics
    assert api.state.called("chat.postMessage") == 4  # the message and three replies


def test_a_retry_after_a_lost_answer_posts_nothing_twice(api: SlackApiServer) -> None:
    s = Sender(target(api))
    api.state.fault("chat.postMessage", "lost")  # the promotion's message is posted, answer lost
    with pytest.raises(NotifyError) as e:
        s.send(event(1, EventKind.STARTED))
    assert e.value.retryable
    s.send(event(1, EventKind.STARTED), retry=True)  # the activity's next attempt
    api.state.fault("chat.postMessage", "lost")  # now a reply is posted and its answer lost
    with pytest.raises(NotifyError):
        s.send(event(2))
    result = s.send(event(2), retry=True)
    assert result.deduplicated
    _, replies = api.state.thread("C0DEPLOY01")
    assert [r.text for r in replies] == ["event 1", "event 2"]


def test_a_retry_finds_an_earlier_reply_across_pages(api: SlackApiServer) -> None:
    api.state.page_size = 2
    s = Sender(target(api))
    for seq in range(1, 6):
        s.send(event(seq))
    assert s.send(event(3), retry=True).deduplicated
    assert len(api.state.thread("C0DEPLOY01")[1]) == 5


def test_rate_limited_calls_wait_retry_after_and_get_through(
    api: SlackApiServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # the worker's level
    s = Sender(target(api))
    api.state.fault("chat.postMessage", "ratelimited", retry_after=1)
    s.send(event(1, EventKind.STARTED))
    assert api.state.called("chat.postMessage") == 3  # 429, then the message, then the reply
    assert TOKEN not in caplog.text


@pytest.mark.parametrize(
    ("change", "error", "hint"),
    [
        ({"channel": "#nowhere"}, "channel_not_found", "invite the bot"),
        ({"token_env": "WRONG_SLACK_TOKEN"}, "invalid_auth", "token is not valid"),
    ],
)
def test_permanent_errors_are_final_and_say_what_to_fix(
    api: SlackApiServer,
    monkeypatch: pytest.MonkeyPatch,
    change: dict[str, str],
    error: str,
    hint: str,
) -> None:
    monkeypatch.setenv("WRONG_SLACK_TOKEN", "xoxb-not-the-one-1234567890")
    with pytest.raises(NotifyError) as e:
        Sender(target(api, **change)).send(event(1))
    assert not e.value.retryable
    assert error in str(e.value) and hint in str(e.value)
    assert "xoxb" not in str(e.value)


def test_a_missing_token_variable_is_named(api: SlackApiServer) -> None:
    with pytest.raises(NotifyError, match="NO_SUCH_TOKEN is not set on the worker") as e:
        Sender(target(api, token_env="NO_SUCH_TOKEN")).send(event(1))
    assert not e.value.retryable
    assert api.state.calls == []


def test_slack_down_is_retryable(api: SlackApiServer) -> None:
    api.state.down = True
    with pytest.raises(NotifyError) as e:
        Sender(target(api)).send(event(1))
    assert e.value.retryable


def test_a_deleted_promotion_message_starts_a_new_one(api: SlackApiServer) -> None:
    s = Sender(target(api))
    s.send(event(1))
    api.state.messages.clear()  # someone deleted the message (and its thread)
    s.send(event(2))
    _, replies = api.state.thread("C0DEPLOY01")
    assert [r.text for r in replies] == ["event 2"]


@pytest.mark.parametrize("interactive", [True, False])
def test_approve_and_reject_buttons_only_on_interactive_targets(
    api: SlackApiServer, interactive: bool
) -> None:
    s = Sender(target(api, interactive=interactive))
    s.send(event(1, EventKind.AWAITING_APPROVAL, command="rollway approve x --by <you>"))
    s.send(event(2))
    replies = api.state.thread("C0DEPLOY01")[1]
    actions = [b for r in replies for b in r.blocks if b["type"] == "actions"]
    if not interactive:
        assert actions == []
        return
    (block,) = actions  # on the approval reply only
    assert [(e["action_id"], e["value"]) for e in block["elements"]] == [
        ("rollway_approve", "promote-demo-abc1234"),
        ("rollway_reject", "promote-demo-abc1234"),
    ]
