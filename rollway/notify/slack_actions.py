"""Approve or reject from Slack: verify the request, name the person, read the decision.

Slack signs every interactivity request with the app's signing secret
(`X-Slack-Signature: v0=HMAC-SHA256(secret, "v0:{timestamp}:{body}")`,
`X-Slack-Request-Timestamp`); slack-sdk's `SignatureVerifier` checks it and refuses
a timestamp more than five minutes off. A replay inside those five minutes is
refused too: each accepted signature is remembered until it would be stale anyway.

The clicking Slack user becomes an approver identity only through the groups file's
`slack_users:` map (`U0123ABCD: alice`); nobody is trusted by a Slack display name.
The decision is then delivered like any other (`approve`/`reject` updates), so the
workflow applies the same authorization (groups, separation of duties, quorum).
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from slack_sdk.signature import Clock, SignatureVerifier

from rollway.policy import GroupDirectory

APPROVE_ACTION = "rollway_approve"
REJECT_ACTION = "rollway_reject"
ACTIONS = {APPROVE_ACTION: "approve", REJECT_ACTION: "reject"}
WINDOW_S = 300  # Slack's own bound on a request's age
MAX_BODY = 64 * 1024
WORKFLOW_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,199}$")
SLACK_USER_RE = re.compile(r"^[UW][A-Z0-9]{2,20}$")


class Refused(Exception):
    """The request is not a decision Rollway accepts; `status` is the HTTP answer."""

    def __init__(self, message: str, status: int = 200) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class SlackDecision:
    workflow_id: str
    decision: str  # approve | reject
    slack_user: str
    by: str  # the approver identity the groups file maps the Slack user to
    response_url: str | None


class RequestGuard:
    """Signature, age and replay checks for Slack requests (thread-safe)."""

    def __init__(self, signing_secret: str, clock: Clock | None = None) -> None:
        self.clock = clock or Clock()
        self.verifier = SignatureVerifier(signing_secret, clock=self.clock)
        self.seen: OrderedDict[str, float] = OrderedDict()
        self.lock = threading.Lock()

    def check(self, body: bytes, timestamp: str | None, signature: str | None) -> None:
        if len(body) > MAX_BODY:
            raise Refused("request too large", 413)
        if not self.verifier.is_valid(body=body, timestamp=timestamp, signature=signature):
            raise Refused("invalid or stale Slack signature", 401)
        assert signature is not None
        now = self.clock.now()
        with self.lock:
            while self.seen and next(iter(self.seen.values())) < now - WINDOW_S:
                self.seen.popitem(last=False)
            if signature in self.seen:
                raise Refused("replayed Slack request", 401)
            self.seen[signature] = now


def parse_decision(body: bytes, directory: GroupDirectory) -> SlackDecision:
    """The decision in a verified `block_actions` request, with the approver's identity."""
    try:
        payload: dict[str, Any] = json.loads(parse_qs(body.decode())["payload"][0])
    except (KeyError, IndexError, ValueError, UnicodeDecodeError):
        raise Refused("not a Slack interactivity payload", 400) from None
    if payload.get("type") != "block_actions" or not payload.get("actions"):
        raise Refused("only Approve/Reject buttons are handled here", 400)
    action = payload["actions"][0]
    decision = ACTIONS.get(str(action.get("action_id")))
    workflow_id = str(action.get("value") or "")
    if decision is None or not WORKFLOW_ID_RE.match(workflow_id):
        raise Refused("not a Rollway approval button", 400)
    user = str((payload.get("user") or {}).get("id") or "")
    if not SLACK_USER_RE.match(user):
        raise Refused("the request names no Slack user", 400)
    by = directory.slack_users.get(user)
    if by is None:
        raise Refused(
            f"your Slack account ({user}) is not mapped to an approver: ask for "
            f"`slack_users: {{{user}: <name>}}` in the groups file, or use "
            f"`rollway {decision} {workflow_id} --by <name>`"
        )
    response_url = payload.get("response_url")
    return SlackDecision(
        workflow_id, decision, user, by, str(response_url) if response_url else None
    )
