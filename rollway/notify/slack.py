"""Slack through the official slack-sdk: one message per promotion, events in its thread.

The first event posts the promotion's message (`chat.postMessage`); every event then
updates it in place (`chat.update`) and replies in its thread. The workflow keeps the
message's `ts` after the first post, so later events (and retries) never repost it.

Exactly once across retries: each message carries the event's idempotency key in
Slack message metadata, and every write is recorded in the activity's heartbeat. A
retry (an earlier attempt may have posted and lost the answer) first looks at what it
recorded, then at the channel's history or the thread's replies for that key
(`conversations.history` / `conversations.replies` with `include_all_metadata`), and
sends only what is not there. Scopes: `chat:write`, `channels:history` (and
`groups:history` for private channels), `channels:read` when the channel is given by name.
"""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
)

from rollway.notify.base import Attempt, NotifyError, secret
from rollway.notify.events import NotifyInput, NotifyResult, SlackThread
from rollway.notify.slack_blocks import event_message, thread_message
from rollway.notify.spec import CHANNEL_RE, NotificationTarget

SLACK_API = "https://slack.com/api/"
THREAD_EVENT = "rollway_promotion"
REPLY_EVENT = "rollway_event"
RETRYABLE_ERRORS = {
    "ratelimited",
    "rate_limited",
    "service_unavailable",
    "fatal_error",
    "internal_error",
    "request_timeout",
}
HINTS = {
    "channel_not_found": "no such channel, or the bot cannot see it: check the channel and "
    "invite the bot (/invite @your-bot)",
    "not_in_channel": "invite the bot to the channel (/invite @your-bot)",
    "is_archived": "the channel is archived",
    "invalid_auth": "the token is not valid: check the token variable on the worker",
    "not_authed": "no token was sent: check the token variable on the worker",
    "token_revoked": "the token was revoked: issue a new one",
    "account_inactive": "the token's app or user is deactivated",
    "missing_scope": "the bot token lacks a scope: chat:write, channels:history "
    "(groups:history for private channels), channels:read for channels given by name",
}
PAGES = 10  # pages read when looking for an earlier delivery


class SlackProvider:
    """A Slack channel, through `slack_sdk.WebClient`."""

    def __init__(self, target: NotificationTarget, index: int) -> None:
        self.target = target
        self.where = f"notifications[{index}] ({target.label()})"

    def client(self) -> WebClient:
        token = secret(self.target.token_env, f"{self.where} token_env")
        return WebClient(
            token=token,
            base_url=self.target.api_url or SLACK_API,
            timeout=max(1, int(self.target.timeout.total_seconds())),
            # 429: wait Retry-After, twice at most; the activity's retries do the rest.
            retry_handlers=[
                ConnectionErrorRetryHandler(max_retry_count=1),
                RateLimitErrorRetryHandler(max_retry_count=2),
            ],
        )

    def send(self, inp: NotifyInput, attempt: Attempt) -> NotifyResult:
        client = self.client()
        try:
            return self._send(client, inp, attempt)
        except SlackApiError as e:
            raise self._api_error(e) from None
        except (OSError, http.client.HTTPException) as e:  # refused, reset, timed out
            raise NotifyError(f"{self.where}: Slack unreachable: {e}", retryable=True) from None
        except SlackRequestError as e:
            raise NotifyError(f"{self.where}: {e}", retryable=False) from None

    def _send(self, client: WebClient, inp: NotifyInput, attempt: Attempt) -> NotifyResult:
        progress = dict(attempt.progress)
        thread = inp.thread
        if thread is None and progress.get("ts"):
            thread = SlackThread(channel=progress["channel"], ts=progress["ts"])
        summary_text, summary_blocks = thread_message(inp.event)
        if thread is None and attempt.retry:
            thread = self._find_thread(client, inp.thread_key)
        if thread is None:
            thread = self._post_thread(client, inp, summary_text, summary_blocks)
            progress |= {"channel": thread.channel, "ts": thread.ts}
            attempt.record(progress)
        else:
            try:
                client.chat_update(
                    channel=thread.channel, ts=thread.ts, text=summary_text, blocks=summary_blocks
                )
            except SlackApiError as e:
                if e.response.get("error") != "message_not_found":
                    raise
                # Someone deleted the promotion's message: start a new one.
                thread = self._post_thread(client, inp, summary_text, summary_blocks)
                progress |= {"channel": thread.channel, "ts": thread.ts}
                attempt.record(progress)
        if progress.get("reply") == inp.key or (
            attempt.retry and self._has_reply(client, thread, inp.key)
        ):
            return NotifyResult(thread=thread, deduplicated=True, detail="already in the thread")
        text, blocks = event_message(inp.event, bool(self.target.interactive))
        reply = client.chat_postMessage(
            channel=thread.channel,
            thread_ts=thread.ts,
            text=text,
            blocks=blocks,
            metadata=_metadata(REPLY_EVENT, inp.key, inp.event.kind.value),
            unfurl_links=False,
        )
        attempt.record(progress | {"reply": inp.key, "reply_ts": str(reply["ts"])})
        return NotifyResult(thread=thread, detail=f"reply {reply['ts']}")

    def _post_thread(
        self, client: WebClient, inp: NotifyInput, text: str, blocks: list[dict[str, Any]]
    ) -> SlackThread:
        channel = self.target.channel
        assert channel is not None
        posted = client.chat_postMessage(
            channel=channel,
            text=text,
            blocks=blocks,
            metadata=_metadata(THREAD_EVENT, inp.thread_key, inp.event.workflow_id),
            unfurl_links=False,
        )
        return SlackThread(channel=str(posted["channel"]), ts=str(posted["ts"]))

    def _find_thread(self, client: WebClient, thread_key: str) -> SlackThread | None:
        """An earlier attempt's promotion message in the channel, by its key."""
        channel = self._channel_id(client)
        if channel is None:
            return None
        for page in _pages(
            client.conversations_history, channel=channel, limit=200, include_all_metadata=True
        ):
            for m in page.get("messages", []):
                if _keyed(m, THREAD_EVENT, thread_key):
                    return SlackThread(channel=channel, ts=str(m["ts"]))
        return None

    def _has_reply(self, client: WebClient, thread: SlackThread, key: str) -> bool:
        pages = _pages(
            client.conversations_replies,
            channel=thread.channel,
            ts=thread.ts,
            limit=200,
            include_all_metadata=True,
        )
        return any(_keyed(m, REPLY_EVENT, key) for page in pages for m in page.get("messages", []))

    def _channel_id(self, client: WebClient) -> str | None:
        """The channel's id (history needs it); looked up by name when given one."""
        channel = self.target.channel
        assert channel is not None
        if not channel.startswith("#") and CHANNEL_RE.match(channel):
            return channel
        name = channel.removeprefix("#")
        for page in _pages(
            client.conversations_list,
            types="public_channel,private_channel",
            exclude_archived=True,
            limit=200,
        ):
            for c in page.get("channels", []):
                if c.get("name") == name:
                    return str(c["id"])
        return None

    def _api_error(self, e: SlackApiError) -> NotifyError:
        status = e.response.status_code
        data = e.response.data if isinstance(e.response.data, dict) else {}
        error = str(data.get("error") or "")
        if not error or error.startswith("Received a response in a non-JSON format"):
            error = f"HTTP {status}"
        retryable = status == 429 or status >= 500 or error in RETRYABLE_ERRORS
        hint = HINTS.get(error)
        needed = f" (needed: {data['needed']})" if data.get("needed") else ""
        return NotifyError(
            f"{self.where}: Slack {e.response.api_url.rsplit('/', 1)[-1]} answered {error}"
            + needed
            + (f": {hint}" if hint else ""),
            retryable=retryable,
        )


def _metadata(event_type: str, key: str, extra: str) -> dict[str, Any]:
    return {"event_type": event_type, "event_payload": {"key": key, "about": extra}}


def _keyed(message: dict[str, Any], event_type: str, key: str) -> bool:
    meta = message.get("metadata") or {}
    payload = meta.get("event_payload") or {}
    return bool(meta.get("event_type") == event_type and payload.get("key") == key)


def _pages(method: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
    """Up to `PAGES` pages of a cursor-paginated Web API method."""
    cursor = None
    for _ in range(PAGES):
        page = method(**kwargs, **({"cursor": cursor} if cursor else {}))
        data: dict[str, Any] = page.data if isinstance(page.data, dict) else {}
        yield data
        cursor = (data.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            return
