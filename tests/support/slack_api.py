"""A local Slack Web API: the request and response shapes slack-sdk speaks, on 127.0.0.1.

It answers `chat.postMessage`, `chat.update`, `conversations.history`,
`conversations.replies` and `conversations.list` the way Slack does: the bot token in
`Authorization: Bearer …` (else `not_authed` / `invalid_auth`), JSON or form bodies,
`{"ok": true, "channel": "C…", "ts": "…"}`, errors as `{"ok": false, "error": …}`
with HTTP 200, message metadata returned only with `include_all_metadata`, cursor
pagination, and 429 with `Retry-After` when rate limited. `chat.update` and the
history methods want a channel id, as Slack does; `chat.postMessage` takes a name too.

Faults are scripted per method (`fault`), or the whole API goes down (`down`).
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

TOKEN = "xoxb-test-0000000000-local"


@dataclass
class Fault:
    """What the next call of `method` gets instead of a normal answer.

    `ratelimited`: 429 with `Retry-After`; `lost`: the write happens, then a 502 (the
    answer is lost on the way back, so the client cannot know); `error`: `ok: false`.
    """

    method: str
    kind: str  # ratelimited | lost | error
    error: str = ""
    retry_after: int = 1


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None
    metadata: dict[str, Any] | None = None
    edited: int = 0

    def as_slack(self, with_metadata: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": "message",
            "user": "U0ROLLWAY",
            "bot_id": "B0ROLLWAY",
            "ts": self.ts,
            "text": self.text,
            "blocks": self.blocks,
        }
        if self.thread_ts:
            out["thread_ts"] = self.thread_ts
        if self.edited:
            out["edited"] = {"user": "U0ROLLWAY", "ts": self.ts}
        if with_metadata and self.metadata:
            out["metadata"] = self.metadata
        return out


@dataclass
class SlackState:
    channels: dict[str, str] = field(
        default_factory=lambda: {"deploy-notifications": "C0DEPLOY01", "engineering": "C0ENGINE01"}
    )
    messages: list[Message] = field(default_factory=list)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (method, args)
    faults: list[Fault] = field(default_factory=list)
    down: bool = False
    page_size: int = 0  # >0: paginate history and replies with this many per page
    lock: threading.Lock = field(default_factory=threading.Lock)
    _ts: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def fault(self, method: str, kind: str, **kw: Any) -> None:
        with self.lock:
            self.faults.append(Fault(method, kind, **kw))

    def thread(self, channel_id: str | None = None) -> tuple[Message, list[Message]]:
        """The only top-level message (in `channel_id`) and its replies, oldest first."""
        with self.lock:
            tops = [
                m
                for m in self.messages
                if m.thread_ts is None and (channel_id is None or m.channel == channel_id)
            ]
            assert len(tops) == 1, f"expected one promotion message, found {len(tops)}"
            replies = [m for m in self.messages if m.thread_ts == tops[0].ts]
        return tops[0], replies

    def called(self, method: str) -> int:
        with self.lock:
            return sum(1 for m, _ in self.calls if m == method)


class SlackApiServer:
    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.state = SlackState()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/api/"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def do_POST(self) -> None:
                self._serve()

            def do_GET(self) -> None:
                self._serve()

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                method = parts.path.removeprefix("/api/")
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                args: dict[str, Any] = dict(parse_qsl(parts.query))
                if self.headers.get("Content-Type", "").startswith("application/json") and raw:
                    args.update(json.loads(raw))
                elif raw:
                    args.update(dict(parse_qsl(raw)))
                status, headers, body = api.answer(method, self.headers.get("Authorization"), args)
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                ctype = "text/html" if isinstance(body, str) else "application/json; charset=utf-8"
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        return Handler

    def answer(
        self, method: str, auth: str | None, args: dict[str, Any]
    ) -> tuple[int, dict[str, str], dict[str, Any] | str]:
        s = self.state
        with s.lock:
            s.calls.append((method, args))
            if s.down:
                return 503, {}, "<html><body>503 Service Unavailable</body></html>"
            fault = next((f for f in s.faults if f.method == method), None)
            if fault is not None:
                s.faults.remove(fault)
                if fault.kind == "ratelimited":
                    return 429, {"Retry-After": str(fault.retry_after)}, _err("ratelimited")
                if fault.kind == "error":
                    return 200, {}, _err(fault.error)
            if not auth or not auth.startswith("Bearer "):
                return 200, {}, _err("not_authed")
            if auth.removeprefix("Bearer ") != self.token:
                return 200, {}, _err("invalid_auth")
            handler = getattr(self, "_" + method.replace(".", "_"), None)
            if handler is None:
                return 200, {}, _err("unknown_method")
            result: dict[str, Any] = handler(args)
            if fault is not None and fault.kind == "lost":
                return 502, {}, "<html><body>502 Bad Gateway</body></html>"
            return 200, {}, result

    # --- methods (called with the lock held) ----------------------------------------

    def _channel(self, given: Any, by_name: bool) -> str | None:
        ref = str(given or "")
        if ref in self.state.channels.values():
            return ref
        found: str | None = self.state.channels.get(ref.removeprefix("#")) if by_name else None
        return found

    def _chat_postMessage(self, a: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(a.get("channel"), by_name=True)
        if channel is None:
            return _err("channel_not_found")
        if not a.get("text") and not a.get("blocks"):
            return _err("no_text")
        thread_ts = a.get("thread_ts")
        if thread_ts and not any(m.ts == thread_ts for m in self.state.messages):
            return _err("thread_not_found")
        ts = f"1767225600.{next(self.state._ts):06d}"
        m = Message(
            channel=channel,
            ts=ts,
            text=str(a.get("text", "")),
            blocks=_json(a.get("blocks")) or [],
            thread_ts=thread_ts,
            metadata=_json(a.get("metadata")),
        )
        self.state.messages.append(m)
        return {"ok": True, "channel": channel, "ts": ts, "message": m.as_slack(True)}

    def _chat_update(self, a: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(a.get("channel"), by_name=False)
        if channel is None:
            return _err("channel_not_found")
        m = next((m for m in self.state.messages if m.ts == a.get("ts")), None)
        if m is None or m.channel != channel:
            return _err("message_not_found")
        m.text, m.blocks, m.edited = (
            str(a.get("text", "")),
            _json(a.get("blocks")) or [],
            m.edited + 1,
        )
        return {"ok": True, "channel": channel, "ts": m.ts, "text": m.text}

    def _conversations_history(self, a: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(a.get("channel"), by_name=False)
        if channel is None:
            return _err("channel_not_found")
        tops = [m for m in self.state.messages if m.channel == channel and m.thread_ts is None]
        return self._page(list(reversed(tops)), a)

    def _conversations_replies(self, a: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(a.get("channel"), by_name=False)
        if channel is None:
            return _err("channel_not_found")
        ts = a.get("ts")
        thread = [m for m in self.state.messages if m.ts == ts or m.thread_ts == ts]
        if not thread:
            return _err("thread_not_found")
        return self._page(thread, a)

    def _conversations_list(self, a: dict[str, Any]) -> dict[str, Any]:
        channels = [
            {"id": cid, "name": name, "is_channel": True, "is_member": True}
            for name, cid in self.state.channels.items()
        ]
        return {"ok": True, "channels": channels, "response_metadata": {"next_cursor": ""}}

    def _page(self, messages: list[Message], a: dict[str, Any]) -> dict[str, Any]:
        with_metadata = str(a.get("include_all_metadata", "")).lower() in ("1", "true")
        size = self.state.page_size or int(a.get("limit") or 100)
        start = int(a.get("cursor") or 0)
        page = messages[start : start + size]
        more = start + size < len(messages)
        return {
            "ok": True,
            "messages": [m.as_slack(with_metadata) for m in page],
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + size) if more else ""},
        }


def _err(error: str) -> dict[str, Any]:
    return {"ok": False, "error": error}


def _json(value: Any) -> Any:
    """Slack accepts blocks and metadata as JSON or as a JSON-encoded string."""
    if isinstance(value, str) and value:
        return json.loads(value)
    return value


@contextmanager
def slack_api(token: str = TOKEN) -> Iterator[SlackApiServer]:
    """A running local Slack Web API; stopped (bounded) when the block ends."""
    api = SlackApiServer(token)
    api.thread.start()
    try:
        yield api
    finally:
        api.server.shutdown()
        api.server.server_close()
        api.thread.join(timeout=5)
