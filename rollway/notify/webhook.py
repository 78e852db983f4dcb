"""A generic JSON webhook: POST the event with an `Idempotency-Key` header.

The URL is a secret (webhook URLs usually carry their credential), read from the
worker's environment by name and never put in an error message. The key is the same
on every retry of one event, so a receiver that keeps the keys it has seen (the IETF
`Idempotency-Key` draft) processes each event once.

Sent with the standard library's `urllib.request`, not httpx: httpx logs every
request's full URL at INFO (the worker logs at INFO), and this URL is a secret.
"""

from __future__ import annotations

import http.client
import json
import urllib.request
from typing import Any
from urllib.error import HTTPError

from rollway.notify.base import Attempt, NotifyError, jsonable, secret
from rollway.notify.events import NotifyInput, NotifyResult
from rollway.notify.spec import NotificationTarget

USER_AGENT = "rollway-notify/1"
SCHEMA = "rollway.notification.v1"


def body(inp: NotifyInput) -> dict[str, Any]:
    """What the webhook receives."""
    return {"schema": SCHEMA, "idempotency_key": inp.key, "event": jsonable(inp.event)}


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer (final unless 3xx is retried), never followed blindly."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects())


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
        if not url.startswith(("https://", "http://")):
            raise NotifyError(
                f"{self.where}: ${self.target.url_env} is not an http(s) URL", retryable=False
            )
        request = urllib.request.Request(
            url,
            data=json.dumps(body(inp)).encode(),
            headers={**headers, "Content-Type": "application/json"},
            method="POST",
        )
        try:
            with _OPENER.open(request, timeout=self.target.timeout.total_seconds()) as response:
                status = int(response.status)
        except HTTPError as e:
            status = e.code
            e.close()
        except (OSError, http.client.HTTPException) as e:  # never str(e): it may name the URL
            raise NotifyError(
                f"{self.where}: the webhook is unreachable ({type(e).__name__})", retryable=True
            ) from None
        if 200 <= status < 300:
            return NotifyResult(detail=f"HTTP {status}")
        retryable = status in (408, 409, 425, 429) or status >= 500
        raise NotifyError(f"{self.where}: the webhook answered HTTP {status}", retryable=retryable)
