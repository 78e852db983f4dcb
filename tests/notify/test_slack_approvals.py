"""Approve/Reject from Slack through `rollway serve`'s app, on the real dev server.

Requests are signed like Slack signs them (slack-sdk's `SignatureVerifier`); the
promotion's own update validator authorizes the mapped person.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp.test_utils import TestClient, TestServer
from slack_sdk.signature import SignatureVerifier
from temporalio.client import Client, WorkflowHandle

from rollway.notify.slack_actions import RequestGuard
from rollway.notify.slack_app import PATH, slack_app
from rollway.policy import GroupDirectory
from tests.support.fake_world import FakeWorld
from tests.support.promotions import pipeline, query_state, running, wait_stage
from tests.support.webhook_receiver import WebhookReceiver, webhook_receiver

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
USERS = {"U0ALICE1": "alice", "U0MALLORY": "mallory"}


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    with webhook_receiver() as receiver:
        yield receiver


@pytest.fixture
async def promotion(dev_client: Client) -> AsyncIterator[WorkflowHandle[Any, Any]]:
    world = FakeWorld(groups={"release-managers": ["alice", "bob"]})
    spec = pipeline(approval={"required": 1, "groups": ["release-managers"]})
    async with running(dev_client, world, spec) as h:
        await wait_stage(h, "approval")
        yield h


def click(workflow_id: str, user: str, response_url: str, action: str = "rollway_approve") -> bytes:
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": "someone", "team_id": "T0TEAM"},
        "response_url": response_url,
        "actions": [{"action_id": action, "block_id": "rollway_decision", "value": workflow_id}],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def signed(body: bytes, secret: str = SECRET, age_s: int = 0) -> dict[str, str]:
    timestamp = str(int(time.time()) - age_s)
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    assert signature is not None
    return {
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signature,
        "Content-Type": "application/x-www-form-urlencoded",
    }


async def test_approve_from_slack_as_the_mapped_person_with_the_same_authorization(
    dev_client: Client, promotion: WorkflowHandle[Any, Any], hook: WebhookReceiver
) -> None:
    prefix = hook.url.rsplit("/", 1)[0]
    app = slack_app(
        dev_client,
        RequestGuard(SECRET),
        lambda: GroupDirectory(slack_users=USERS),
        response_url_prefix=prefix,
    )
    async with TestClient(TestServer(app)) as http:
        # A Slack user nobody mapped is told how to get mapped; nothing is decided.
        body = click(promotion.id, "U0NOBODY9", hook.url)
        r = await http.post(PATH, data=body, headers=signed(body))
        assert r.status == 200 and "is not mapped to an approver" in (await r.json())["text"]
        # Mapped, but not in the group the policy names: the workflow refuses it.
        body = click(promotion.id, "U0MALLORY", hook.url)
        r = await http.post(PATH, data=body, headers=signed(body))
        text = (await r.json())["text"]
        assert text.startswith("approve by mallory refused") and "release-managers" in text
        # Alice approves.
        body = click(promotion.id, "U0ALICE1", hook.url)
        headers = signed(body)
        r = await http.post(PATH, data=body, headers=headers)
        assert (await r.json())["text"] == "approved by alice (1 of 1)"
        # The same request again (a replay within Slack's five minutes) is refused.
        replay = await http.post(PATH, data=body, headers=headers)
        assert replay.status == 401 and "replayed" in await replay.text()
    state = await query_state(promotion)
    assert [(a.by, a.comment) for a in state.approvals] == [("alice", "from Slack (U0ALICE1)")]
    # Each person was answered through Slack's response_url, ephemerally.
    answers = [r.body["text"] for r in hook.received]
    assert answers[-1] == "approved by alice (1 of 1)" and len(answers) == 3
    assert all(r.body["response_type"] == "ephemeral" for r in hook.received)


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        (lambda b: signed(b, secret="not-the-signing-secret"), "forged"),
        (lambda b: signed(b, age_s=600), "stale"),
        (lambda b: {"Content-Type": "application/x-www-form-urlencoded"}, "unsigned"),
    ],
)
async def test_forged_stale_or_unsigned_requests_decide_nothing(
    dev_client: Client, promotion: WorkflowHandle[Any, Any], headers: Any, why: str
) -> None:
    app = slack_app(dev_client, RequestGuard(SECRET), lambda: GroupDirectory(slack_users=USERS))
    async with TestClient(TestServer(app)) as http:
        body = click(promotion.id, "U0ALICE1", "https://hooks.slack.com/actions/T/1/x")
        r = await http.post(PATH, data=body, headers=headers(body))
        assert r.status == 401, why
    assert (await query_state(promotion)).approvals == []
