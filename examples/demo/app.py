"""The demo service: a small HTTP app with its own Prometheus metrics.

A version's behaviour is baked into its build (`behaviour.json` in the
artifact, from `releases/<version>.json`): `error_rate` (fraction of requests
answered 500) and `latency_ms` (added to every request). Environment
variables DEMO_ERROR_RATE / DEMO_LATENCY_MS override it.
"""

from __future__ import annotations

import json
import os
import random
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

VERSION = os.environ.get("VERSION", "dev")
PORT = int(os.environ.get("PORT", "8000"))
_behaviour: dict[str, float] = {}
if Path("behaviour.json").exists():
    _behaviour = json.loads(Path("behaviour.json").read_text())


def _setting(env: str, key: str) -> float:
    """An environment override, else the baked-in behaviour, else 0."""
    return float(os.environ.get(env) or _behaviour.get(key, 0.0))


ERROR_RATE = _setting("DEMO_ERROR_RATE", "error_rate")
LATENCY_MS = _setting("DEMO_LATENCY_MS", "latency_ms")

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.5, 5.0)
DURATION = Histogram(
    "http_request_duration_seconds", "Request latency.", ["path", "code"], buckets=BUCKETS
)
REQUESTS = Counter("http_requests_total", "Requests served.", ["path", "code"])
_rng = random.Random()  # nosec B311: fault injection, not cryptography


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:  # keep the log quiet
        return

    def _send(self, code: int, body: bytes, ctype: str = "text/plain") -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/metrics":
            self._send(200, generate_latest(), CONTENT_TYPE_LATEST)
            return
        if self.path == "/healthz":
            self._send(200, b"ok\n")
            return
        start = time.perf_counter()
        time.sleep(max(0.0, _rng.lognormvariate(-5.3, 0.4) + LATENCY_MS / 1000))
        fail = _rng.random() < ERROR_RATE
        code = 500 if fail else 200
        body = b"injected failure\n" if fail else f"hello from {VERSION}\n".encode()
        self._send(code, body)
        path = "/" if self.path.split("?")[0] == "/" else "other"
        DURATION.labels(path, str(code)).observe(time.perf_counter() - start)
        REQUESTS.labels(path, str(code)).inc()


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
    server.daemon_threads = True
    print(f"demo {VERSION} on :{PORT} error_rate={ERROR_RATE} latency_ms={LATENCY_MS}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
