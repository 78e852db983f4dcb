"""The Rollway worker: runs PromotionWorkflow and every activity on task queue `rollway`.

    python -m workers.main            # address from ROLLWAY_TEMPORAL_ADDRESS or `rollway up`

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
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from rollway import NAMESPACE, TASK_QUEUE
from rollway.home import home
from rollway.platform.local.supervisor import HAProxySupervisor
from rollway.stack import temporal_address
from workers import stack_link
from workers.registry import ACTIVITIES, WORKFLOWS


async def connect(address: str | None = None) -> Client:
    """A client with Rollway's data converter."""
    addr = address or os.environ.get("ROLLWAY_TEMPORAL_ADDRESS") or temporal_address(home())
    if not addr:
        raise SystemExit("no Temporal server: run `rollway up` or set ROLLWAY_TEMPORAL_ADDRESS")
    return await Client.connect(addr, namespace=NAMESPACE, data_converter=pydantic_data_converter)


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

    start_http_server(int(port), addr="127.0.0.1")  # the local stack is single-user
    logging.info("worker metrics on 127.0.0.1:%s/metrics", port)
    return int(port)


async def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    serve_metrics()
    client = await connect()
    haproxy = HAProxySupervisor(home())  # a no-op where no local HAProxy ever ran
    haproxy.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    with ThreadPoolExecutor(max_workers=64) as executor:
        worker = build_worker(client, executor)
        async with worker:
            logging.info(
                "worker polling task queue %s at %s",
                TASK_QUEUE,
                client.service_client.config.target_host,
            )
            if stack_link.managed():  # started by `rollway up`
                await stack_link.serve(client, home(), TASK_QUEUE, client.identity, stop)
            else:
                await stop.wait()
    haproxy.stop()


if __name__ == "__main__":
    asyncio.run(main())
