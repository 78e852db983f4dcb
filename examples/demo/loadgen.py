"""Steady HTTP traffic through the front door, counting what comes back.

    python examples/demo/loadgen.py URL --rps 40 [--stats FILE] [--duration S]

Every second it rewrites `--stats` (JSON: sent, by status, connection errors,
per-version counts, `skipped_busy` for requests not sent because 64 were in flight) so a test or the demo can read it while it runs.

SIGTERM or SIGINT stops it at once: requests in flight are cancelled (not awaited:
a dead front door would hold them for their 10 s timeout), the stats are written,
and if anything still blocks, the process exits hard `EXIT_GRACE_S` after the signal.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

EXIT_GRACE_S = 3.0
# Requests in flight at most (the pool's size): beyond it httpx queues requests with a
# cost quadratic in the queue, which starves the event loop when the front door stalls.
MAX_IN_FLIGHT = 64


def exit_soon() -> None:
    """Exit the process `EXIT_GRACE_S` from now whatever the event loop is doing."""
    timer = threading.Timer(EXIT_GRACE_S, os._exit, (0,))
    timer.daemon = True
    timer.start()


async def run(
    url: str, rps: float, stats_path: Path | None, duration: float | None
) -> Counter[str]:
    stats: Counter[str] = Counter()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(signum: int, frame: object) -> None:
        # A plain handler, not loop.add_signal_handler: it runs at once even when the
        # loop is busy, and the exit timer guarantees the process goes.
        exit_soon()
        loop.call_soon_threadsafe(stop.set)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)

    async def one(client: httpx.AsyncClient) -> None:
        try:
            r = await client.get(url)
            stats[f"status_{r.status_code}"] += 1
            if r.status_code == 200:
                stats["version_" + r.text.strip().rsplit(" ", 1)[-1]] += 1
        except httpx.HTTPError as e:
            stats["connection_errors"] += 1
            stats[f"error_{type(e).__name__}"] += 1

    def dump() -> None:
        if stats_path:
            tmp = stats_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(dict(stats) | {"time": time.time()}))
            tmp.replace(stats_path)

    limits = httpx.Limits(max_connections=MAX_IN_FLIGHT, max_keepalive_connections=16)
    async with httpx.AsyncClient(timeout=10.0, limits=limits) as client:
        start = time.monotonic()
        tasks: set[asyncio.Task[None]] = set()
        n, last_dump = 0, start
        while not stop.is_set():
            now = time.monotonic()
            if duration and now - start > duration:
                break
            due = int((now - start) * rps) - n
            for _ in range(max(0, due)):
                n += 1
                if len(tasks) >= MAX_IN_FLIGHT:  # a stalled front door: count, do not queue
                    stats["skipped_busy"] += 1
                    continue
                t = asyncio.create_task(one(client))
                tasks.add(t)
                t.add_done_callback(tasks.discard)
                stats["sent"] += 1
            if now - last_dump >= 1.0:
                dump()
                last_dump = now
            await asyncio.sleep(0.005)
        if tasks and not stop.is_set():  # --duration ran out: let the last requests finish
            await asyncio.wait(tasks, timeout=10)
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=1)
        dump()  # before closing the client: closing may block on a dead server
    dump()
    return stats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("url")
    ap.add_argument("--rps", type=float, default=40.0)
    ap.add_argument("--stats", type=Path)
    ap.add_argument("--duration", type=float)
    a = ap.parse_args()
    stats = asyncio.run(run(a.url, a.rps, a.stats, a.duration))
    print(json.dumps(dict(stats)))


if __name__ == "__main__":
    main()
