"""The HTTP side of Approve/Reject from Slack: `POST /slack/actions` (aiohttp).

Each request is checked (`RequestGuard`: signature, age, replay), the clicking user
mapped to an approver (`parse_decision`, the groups file), and the decision delivered
as the `approve`/`reject` update: the workflow's own validator decides whether that
person may (groups, separation of duties, quorum), exactly as for `rollway approve`.
The outcome goes back to the clicking user only (ephemeral), in the response and
through Slack's `response_url`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import web
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from rollway.models import ApprovalInput, PromotionState
from rollway.notify.slack_actions import Refused, RequestGuard, SlackDecision, parse_decision
from rollway.policy import GroupDirectory

log = logging.getLogger(__name__)
PATH = "/slack/actions"
SLACK_RESPONSE_URLS = "https://hooks.slack.com/"
UPDATE_TIMEOUT_S = 2.5  # Slack wants an answer within 3 s


def slack_app(
    client: Client,
    guard: RequestGuard,
    directory: Callable[[], GroupDirectory],
    response_url_prefix: str = SLACK_RESPONSE_URLS,
) -> web.Application:
    async def actions(request: web.Request) -> web.Response:
        body = await request.content.read(64 * 1024 + 1)
        try:
            guard.check(
                body,
                request.headers.get("X-Slack-Request-Timestamp"),
                request.headers.get("X-Slack-Signature"),
            )
            decision = parse_decision(body, directory())
        except Refused as e:
            if e.status != 200:
                log.warning("refused a Slack request: %s", e)
                return web.Response(status=e.status, text=str(e))
            await _respond(_response_url(body), str(e), response_url_prefix)
            return web.json_response(ephemeral(str(e)))
        text = await deliver(client, decision)
        log.info(
            "Slack %s of %s by %s: %s", decision.decision, decision.workflow_id, decision.by, text
        )
        await _respond(decision.response_url, text, response_url_prefix)
        return web.json_response(ephemeral(text))

    app = web.Application(client_max_size=64 * 1024)
    app.router.add_post(PATH, actions)
    return app


async def deliver(client: Client, d: SlackDecision) -> str:
    """The decision as the workflow's update; what to tell the person."""
    handle = client.get_workflow_handle(d.workflow_id)
    try:
        state: PromotionState = await asyncio.wait_for(
            handle.execute_update(
                d.decision,
                ApprovalInput(by=d.by, comment=f"from Slack ({d.slack_user})"),
                result_type=PromotionState,
            ),
            UPDATE_TIMEOUT_S,
        )
    except WorkflowUpdateFailedError as e:
        cause = e.cause
        while cause.__cause__ is not None:
            cause = cause.__cause__
        return f"{d.decision} by {d.by} refused: {cause}"
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            return f"{d.workflow_id} is not running any more"
        return f"{d.decision} of {d.workflow_id} failed: {e.message}"
    except TimeoutError:
        return f"no worker answered the {d.decision} of {d.workflow_id} in time; try again"
    if d.decision == "reject":
        return f"rejected by {d.by}: {d.workflow_id} stops without touching production"
    approved = len([a for a in state.approvals if a.decision == "approve"])
    return f"approved by {d.by} ({approved} of {state.approvals_required})"


def ephemeral(text: str) -> dict[str, Any]:
    return {"response_type": "ephemeral", "replace_original": False, "text": text}


def _response_url(body: bytes) -> str | None:
    """The response_url of a request refused after its signature was verified."""
    import json
    from urllib.parse import parse_qs

    try:
        url = json.loads(parse_qs(body.decode())["payload"][0]).get("response_url")
    except (KeyError, IndexError, ValueError, UnicodeDecodeError, AttributeError):
        return None
    return str(url) if url else None


async def _respond(url: str | None, text: str, prefix: str) -> None:
    """Tell the clicking user through Slack's response_url (only Slack's own URLs)."""
    if url is None or not url.startswith(prefix):
        return
    try:
        timeout = aiohttp.ClientTimeout(total=2)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.post(url, json=ephemeral(text)) as response,
        ):
            if response.status >= 300:
                log.warning("Slack response_url answered HTTP %s", response.status)
    except (aiohttp.ClientError, TimeoutError) as e:
        log.warning("could not answer through Slack's response_url: %s", type(e).__name__)
