"""A HAProxy reload never drops a keep-alive client: real HAProxy, real HTTP/1.1 connection.

On a reload the old HAProxy worker used to close idle keep-alive connections under
their clients; a client that sent its next request at that moment got no response
(about 1 request in 1,400 under load while targets appeared). Now the old worker
answers that next request and closes the connection after it.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from rollway.home import free_port, read_json, write_json
from rollway.platform.local.haproxy import HAProxy
from rollway.platform.local.supervisor import backends
from tests.support.binaries import require_binary


class _KeepAlive(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = b"v1\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[HAProxy, int]]:
    """HAProxy in front of a real keep-alive HTTP server; yields it and its frontend port."""
    require_binary("haproxy", "apt-get install -y haproxy (./dev installs it)")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _KeepAlive)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state = {
        "frontend_port": free_port(),
        "stable": {
            "version": "v1",
            "artifact": str(tmp_path),
            "port": server.server_address[1],
            "weight": 100,
            "process": {"pid": 1, "start_ticks": 1, "log": str(tmp_path / "v1.log")},
            "argv": ["true"],
        },
    }
    write_json(tmp_path / "platform" / "svc.production.json", state)
    h = HAProxy(tmp_path)
    h.start_or_reload(backends(tmp_path))
    try:
        yield h, int(read_json(tmp_path / "platform" / "svc.production.json")["frontend_port"])
    finally:
        h.stop()
        server.shutdown()
        server.server_close()


def _get(conn: http.client.HTTPConnection) -> http.client.HTTPResponse:
    conn.request("GET", "/")
    response = conn.getresponse()
    response.read()
    return response


def test_an_idle_keep_alive_connection_survives_a_reload(served: tuple[HAProxy, int]) -> None:
    haproxy, port = served
    deadline = time.monotonic() + 10
    while True:  # the first health check may still be pending
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        if _get(conn).status == 200:
            break
        conn.close()
        assert time.monotonic() < deadline, "HAProxy never served the backend"
        time.sleep(0.1)
    old_master = haproxy.master_pid()

    haproxy.start_or_reload(backends(haproxy.dir.parent))  # a new target would do this
    assert haproxy.master_pid() == old_master, "a reload, not a restart"
    time.sleep(1.0)  # the old worker has soft-stopped by now; our connection sits idle on it

    response = _get(conn)  # before the fix: ConnectionResetError, no response at all
    assert response.status == 200
    assert response.getheader("Connection", "").lower() == "close"
    conn.close()
