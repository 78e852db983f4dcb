"""Steady HTTP traffic through the front door, counting what comes back.

    python examples/demo/loadgen.py URL --rps 40 [--stats FILE] [--duration S]

Every second it rewrites `--stats` (JSON: sent, by status, connection errors,
per-version counts) so a test or the demo can read it while it runs.

At most MAX_IN_FLIGHT requests are open at once, one per pooled connection (a
request due beyond that is counted as `not_sent_backlog`), so a front door that
hangs costs little CPU and nothing queues inside the pool; on
SIGTERM or SIGINT it stops sending, gives requests in flight one second, then
cancels them and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import time
from collections import Counter
from pathlib import Path

import httpx

MAX_IN_FLIGHT = 256  # = the connection pool: no request waits on the pool


async def run(
    url: str, rps: float, stats_path: Path | None, duration: float | None
) -> Counter[str]:
    stats: Counter[str] = Counter()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

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
                if len(tasks) >= MAX_IN_FLIGHT:
                    stats["not_sent_backlog"] += 1
                    continue
                t = asyncio.create_task(one(client))
                tasks.add(t)
                t.add_done_callback(tasks.discard)
                stats["sent"] += 1
            if now - last_dump >= 1.0:
                dump()
                last_dump = now
            await asyncio.sleep(0.005)
        if tasks:
            await asyncio.wait(list(tasks), timeout=1.0 if stop.is_set() else 10.0)
        for t in list(tasks):
            t.cancel()
        if tasks:
            await asyncio.wait(list(tasks), timeout=1.0)
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
