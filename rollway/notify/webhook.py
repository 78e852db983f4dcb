"""A generic JSON webhook: POST the event with an `Idempotency-Key` header.

The URL is a secret (webhook URLs usually carry their credential), read from the
worker's environment by name and never put in an error message. The key is the same
on every retry of one event, so a receiver that keeps the keys it has seen (the IETF
`Idempotency-Key` draft) processes each event once.
"""

from __future__ import annotations

from typing import Any

import httpx

from rollway.notify.base import Attempt, NotifyError, jsonable, secret
from rollway.notify.events import NotifyInput, NotifyResult
from rollway.notify.spec import NotificationTarget

USER_AGENT = "rollway-notify/1"
SCHEMA = "rollway.notification.v1"


def body(inp: NotifyInput) -> dict[str, Any]:
    """What the webhook receives."""
    return {"schema": SCHEMA, "idempotency_key": inp.key, "event": jsonable(inp.event)}


class WebhookProvider:
    """POSTs each event as JSON; 2xx delivered, 408/429/5xx retried, other 4xx final."""

    def __init__(self, target: NotificationTarget, index: int) -> None:
        self.target = target
        self.where = f"notifications[{index}] ({target.label()})"

    def send(self, inp: NotifyInput, attempt: Attempt) -> NotifyResult:
        url = secret(self.target.url_env, f"{self.where} url_env")
        headers = {
            "Idempotency-Key": inp.key,
            "User-Agent": USER_AGENT,
            "X-Rollway-Event": inp.event.kind.value,
        }
        try:
            response = httpx.post(
                url,
                json=body(inp),
                headers=headers,
                timeout=self.target.timeout.total_seconds(),
                follow_redirects=False,
            )
        except httpx.HTTPError as e:  # never str(e): it may name the URL
            raise NotifyError(
                f"{self.where}: the webhook is unreachable ({type(e).__name__})", retryable=True
            ) from None
        status = response.status_code
        if 200 <= status < 300:
            return NotifyResult(detail=f"HTTP {status}")
        retryable = status in (408, 409, 425, 429) or status >= 500
        raise NotifyError(f"{self.where}: the webhook answered HTTP {status}", retryable=retryable)
