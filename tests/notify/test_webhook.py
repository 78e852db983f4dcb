"""The JSON webhook provider against a local receiver."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from rollway.notify.base import Attempt, NotifyError
from rollway.notify.events import NotificationEvent, NotifyInput
from rollway.notify.spec import EventKind, NotificationTarget
from rollway.notify.webhook import SCHEMA, WebhookProvider
from tests.support.webhook_receiver import WebhookReceiver, webhook_receiver


@pytest.fixture
def hook(monkeypatch: pytest.MonkeyPatch) -> Iterator[WebhookReceiver]:
    with webhook_receiver() as receiver:
        monkeypatch.setenv("TEST_WEBHOOK_URL", receiver.url)
        yield receiver


def inp(seq: int = 7) -> NotifyInput:
    event = NotificationEvent(
        kind=EventKind.PROMOTED,
        seq=seq,
        at=datetime(2026, 12, 1, 9, 0, tzinfo=UTC),
        workflow_id="promote-demo-abc1234",
        service="demo",
        version="v2",
        commit="abc1234",
        environment="production",
        title="demo v2 promoted",
        summary="promoted",
        outcome="promoted",
    )
    target = NotificationTarget(kind="webhook", url_env="TEST_WEBHOOK_URL")
    return NotifyInput(
        target=target, target_index=1, event=event, key=f"wf/run#{seq}", thread_key="wf/run#t"
    )


def send(i: NotifyInput) -> None:
    WebhookProvider(i.target, i.target_index).send(i, Attempt())


def test_posts_the_event_as_json_with_an_idempotency_key(hook: WebhookReceiver) -> None:
    send(inp())
    (r,) = hook.received
    assert r.headers["Idempotency-Key"] == "wf/run#7"
    assert r.headers["Content-Type"] == "application/json"
    assert r.body["schema"] == SCHEMA and r.body["idempotency_key"] == "wf/run#7"
    assert r.body["event"]["kind"] == "promoted" and r.body["event"]["version"] == "v2"


def test_the_url_stays_out_of_the_workers_log(
    hook: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    send(inp())
    assert hook.received and "s3cr3t" not in caplog.text


def test_every_retry_sends_the_same_key(hook: WebhookReceiver) -> None:
    hook.statuses = [503]
    with pytest.raises(NotifyError) as e:
        send(inp())
    assert e.value.retryable
    send(inp())
    assert [r.headers["Idempotency-Key"] for r in hook.received] == ["wf/run#7", "wf/run#7"]


@pytest.mark.parametrize(("status", "retryable"), [(400, False), (404, False), (429, True)])
def test_client_errors_are_final_but_429(
    hook: WebhookReceiver, status: int, retryable: bool
) -> None:
    hook.statuses = [status]
    with pytest.raises(NotifyError, match=f"HTTP {status}") as e:
        send(inp())
    assert e.value.retryable is retryable
    assert "s3cr3t" not in str(e.value)


def test_an_unreachable_webhook_never_names_its_url(
    hook: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_WEBHOOK_URL", "http://127.0.0.1:9/hooks/s3cr3t-path")
    with pytest.raises(NotifyError, match="unreachable") as e:
        send(inp())
    assert e.value.retryable and "s3cr3t" not in str(e.value) and "127.0.0.1" not in str(e.value)
