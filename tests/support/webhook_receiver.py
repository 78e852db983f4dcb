"""A local JSON webhook receiver on 127.0.0.1: records each POST, answers scripted statuses."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class WebhookReceiver:
    server: ThreadingHTTPServer
    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answered in turn; then 200
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/deploys/s3cr3t-path"

    def kinds(self) -> list[str]:
        with self.lock:
            return [r.body["event"]["kind"] for r in self.received]


@contextmanager
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """A running receiver; stopped (bounded) when the block ends."""
    holder: list[WebhookReceiver] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:
            pass

        def do_POST(self) -> None:
            r = holder[0]
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with r.lock:
                r.received.append(Received(self.path, dict(self.headers), json.loads(raw)))
                status = r.statuses.pop(0) if r.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    holder.append(WebhookReceiver(server))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield holder[0]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
