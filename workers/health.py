"""The worker's HTTP port: Prometheus metrics plus liveness and readiness for probes.

* `/healthz` (liveness): 200 while the event loop keeps turning; 503 once it has
  not run `keep_beating` for `stale_after` seconds (a wedged loop polls nothing).
* `/readyz` (readiness): 200 once the worker polls its task queue, 503 before that
  and while it shuts down, so a rolling update waits for the new pods to poll.
* anything else: the default Prometheus registry (`/metrics`).

prometheus_client's own server answers every path with the metrics and so cannot
fail a probe; this one reuses its threaded WSGI server and app.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

StartResponse = Callable[..., Any]


class Health:
    """What the probes report: loop heartbeat and whether the worker polls."""

    def __init__(self, stale_after: float = 30.0) -> None:
        self.stale_after = stale_after
        self.ready = False
        self._beat = time.monotonic()

    def beat(self) -> None:
        self._beat = time.monotonic()

    def alive(self) -> tuple[bool, str]:
        age = time.monotonic() - self._beat
        if age > self.stale_after:
            return False, f"event loop stalled for {age:.0f}s (limit {self.stale_after:.0f}s)"
        return True, "ok"

    def readiness(self) -> tuple[bool, str]:
        ok, why = self.alive()
        if not ok:
            return ok, why
        if not self.ready:
            return False, "not polling Temporal (starting or shutting down)"
        return True, "ok"


async def keep_beating(health: Health, every: float = 5.0) -> None:
    """Mark the event loop alive every `every` seconds until cancelled."""
    while True:
        health.beat()
        await asyncio.sleep(every)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Probes hit this every few seconds: no access log."""


def app(health: Health) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    metrics = make_wsgi_app()

    def handle(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path in ("/healthz", "/readyz"):
            ok, why = health.alive() if path == "/healthz" else health.readiness()
            status = "200 OK" if ok else "503 Service Unavailable"
            start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
            return [why.encode() + b"\n"]
        return metrics(environ, start_response)  # type: ignore[no-any-return]

    return handle


def serve(port: int, health: Health, addr: str = "0.0.0.0") -> ThreadingWSGIServer:
    """Serve metrics and probes on `addr:port` from a daemon thread; `.shutdown()` stops it."""
    server = make_server(
        addr, port, app(health), server_class=ThreadingWSGIServer, handler_class=_QuietHandler
    )
    threading.Thread(target=server.serve_forever, name="worker-http", daemon=True).start()
    return server
