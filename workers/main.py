"""The Rollway worker: runs PromotionWorkflow and every activity on task queue `rollway`.

    python -m workers.main

It connects the way the `temporal` CLI does (`rollway.connection`): a profile of
Temporal's config file and the `TEMPORAL_*` variables (address, namespace, TLS/mTLS,
API key), else `$ROLLWAY_TEMPORAL_ADDRESS`, else the dev server of `rollway up`.

With ROLLWAY_WORKER_METRICS_PORT set, the worker serves its Prometheus metrics
(every canary analysis, see `rollway.metrics.export`) on that port at /metrics.

Activities are synchronous (the kubernetes and boto3 clients are), so they run
in a thread pool; each one heartbeats on long waits.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from rollway import TASK_QUEUE
from rollway.connection import Overrides, Settings, TemporalConnectionError, load_settings
from rollway.connection import connect as connect_to
from workers.registry import ACTIVITIES, WORKFLOWS


async def connect(address: str | None = None, settings: Settings | None = None) -> Client:
    """A client with Rollway's data converter, from Temporal's environment configuration."""
    try:
        return await connect_to(settings or load_settings(Overrides(address=address)))
    except TemporalConnectionError as e:
        raise SystemExit(f"worker: {e}") from None


def build_worker(
    client: Client,
    executor: ThreadPoolExecutor,
    task_queue: str = TASK_QUEUE,
    activities: Sequence[Callable[..., Any]] | None = None,
) -> Worker:
    """A worker for every Rollway workflow; `activities` replaces the real ones in tests."""
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=list(ACTIVITIES if activities is None else activities),
        activity_executor=executor,
        max_concurrent_activities=64,
    )


def serve_metrics() -> int | None:
    """Serve the worker's Prometheus metrics when ROLLWAY_WORKER_METRICS_PORT is set."""
    port = os.environ.get("ROLLWAY_WORKER_METRICS_PORT")
    if not port:
        return None
    from prometheus_client import start_http_server

    start_http_server(int(port))
    logging.info("worker metrics on :%s/metrics", port)
    return int(port)


async def main(settings: Settings | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    serve_metrics()
    client = await connect(settings=settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    with ThreadPoolExecutor(max_workers=64) as executor:
        worker = build_worker(client, executor)
        async with worker:
            logging.info(
                "worker polling task queue %s at %s, namespace %s",
                TASK_QUEUE,
                client.service_client.config.target_host,
                client.namespace,
            )
            await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
