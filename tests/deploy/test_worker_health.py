"""The worker's probe endpoints answer as Kubernetes and Docker expect (real HTTP)."""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from rollway.home import free_port
from workers.health import Health, keep_beating, serve


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


@pytest.fixture
def served() -> Iterator[tuple[int, Health]]:
    health = Health(stale_after=0.5)
    port = free_port()
    server = serve(port, health, addr="127.0.0.1")
    try:
        yield port, health
    finally:
        server.shutdown()
        server.server_close()


def test_ready_only_while_polling(served: tuple[int, Health]) -> None:
    port, health = served
    status, body = get(port, "/readyz")
    assert status == 503 and "not polling" in body
    assert get(port, "/healthz")[0] == 200
    health.ready = True
    assert get(port, "/readyz") == (200, "ok\n")
    health.ready = False  # shutting down: out of rotation again
    assert get(port, "/readyz")[0] == 503


def test_liveness_fails_when_the_loop_stops_beating(served: tuple[int, Health]) -> None:
    port, health = served
    health.ready = True
    time.sleep(0.7)  # nobody beats: as if the event loop were wedged
    status, body = get(port, "/healthz")
    assert status == 503 and "event loop stalled" in body
    assert get(port, "/readyz")[0] == 503


async def test_a_turning_loop_stays_alive(served: tuple[int, Health]) -> None:
    port, health = served
    task = asyncio.create_task(keep_beating(health, every=0.1))
    try:
        await asyncio.sleep(0.8)  # longer than stale_after: only the beats keep it alive
        assert (await asyncio.to_thread(get, port, "/healthz"))[0] == 200
    finally:
        task.cancel()


def test_metrics_still_served(served: tuple[int, Health]) -> None:
    port, _ = served
    import rollway.metrics.export  # noqa: F401  (registers Rollway's collectors)

    status, body = get(port, "/metrics")
    assert status == 200
    assert "rollway_analyses_total" in body or "# HELP rollway_analyses" in body
