"""The Rollway worker: runs PromotionWorkflow and every activity on task queue `rollway`.

    python -m workers.main [--allow-inline-pipelines]

Pipelines come from the worker's trusted catalog (`ROLLWAY_PIPELINE_CATALOG`, a folder,
default ./pipelines; or `ROLLWAY_PIPELINE_CATALOG_GIT` at `ROLLWAY_PIPELINE_CATALOG_REF`):
a promotion only names one. An inline spec in the workflow input runs only on a worker
started with `--allow-inline-pipelines` or `ROLLWAY_DEV_INLINE_PIPELINES=1` (development;
`rollway up` sets it). See docs/catalog.md.

It connects the way the `temporal` CLI does (`rollway.connection`): a profile of
Temporal's config file and the `TEMPORAL_*` variables (address, namespace, TLS/mTLS,
API key), else `$ROLLWAY_TEMPORAL_ADDRESS`, else the dev server of `rollway up`.
With a payload keyring (`$ROLLWAY_CODEC_KEYS`, or the one `rollway up` gives it) every
payload it sends is AES-GCM encrypted, failure messages too; without one it logs a
warning that payloads are plaintext on the server (docs/security.md).

With ROLLWAY_WORKER_METRICS_PORT set, the worker serves its Prometheus metrics
(every canary analysis, see `rollway.metrics.export`; DORA metrics, see
`workers/dora_export.py`) on that port at /metrics,
and /healthz and /readyz for container probes (`workers/health.py`).

On SIGTERM it stops polling and gives the activities in flight GRACEFUL_SHUTDOWN
to finish; the container's grace period must be longer (deploy/worker/).

Activities are synchronous (the kubernetes and boto3 clients are), so they run
in a thread pool; each one heartbeats on long waits.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, NoReturn

from temporalio.client import Client
from temporalio.worker import Worker

from activities.catalog import catalog_activity, load_pipeline
from rollway import TASK_QUEUE
from rollway.connection import (
    Overrides,
    Settings,
    TemporalConnectionError,
    load_settings,
    plaintext_warning,
)
from rollway.connection import connect as connect_to
from rollway.home import home
from rollway.platform.local.supervisor import HAProxySupervisor
from rollway.security.codec import keyring_of
from rollway.spec_catalog import CatalogConfig
from workers import dora_export, stack_link
from workers.health import Health, keep_beating, serve
from workers.registry import ACTIVITIES, WORKFLOWS

GRACEFUL_SHUTDOWN = timedelta(minutes=2)
"""Time the activities in flight get to finish on shutdown: the longest platform call
without heartbeat (workflows/options.py PLATFORM); heartbeating ones are retried
elsewhere after their heartbeat timeout (60 s at most) anyway."""


async def connect(address: str | None = None, settings: Settings | None = None) -> Client:
    """A client with Rollway's data converter, from Temporal's environment configuration.

    The converter encrypts payloads when the settings name a keyring; the log says
    which key encrypts, or warns that payloads are plaintext.
    """
    try:
        s = settings or load_settings(Overrides(address=address))
        client = await connect_to(s)
    except TemporalConnectionError as e:
        raise SystemExit(f"worker: {e}") from None
    keyring = keyring_of(client.data_converter)
    if keyring is None:
        logging.warning("%s", plaintext_warning(s))
    else:
        logging.info(
            "payloads encrypted with key %s, decrypted with %s (keyring %s, from %s)",
            keyring.current,
            ", ".join(sorted(keyring.keys)),
            s.codec_keys,
            s.codec_keys_source,
        )
    return client


def build_worker(
    client: Client,
    executor: ThreadPoolExecutor,
    task_queue: str = TASK_QUEUE,
    activities: Sequence[Callable[..., Any]] | None = None,
    graceful_shutdown: timedelta = timedelta(0),
    catalog: CatalogConfig | None = None,
) -> Worker:
    """A worker for every Rollway workflow; `activities` replaces the real ones in tests.

    `catalog` binds `load_pipeline` to a catalog (else it reads the environment per call).
    """
    chosen = list(ACTIVITIES if activities is None else activities)
    if catalog is not None:
        chosen = [a for a in chosen if a is not load_pipeline] + [catalog_activity(catalog)]
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=chosen,
        activity_executor=executor,
        max_concurrent_activities=64,
        graceful_shutdown_timeout=graceful_shutdown,
    )


def serve_metrics(health: Health) -> int | None:
    """Serve metrics and probes when ROLLWAY_WORKER_METRICS_PORT is set."""
    port = os.environ.get("ROLLWAY_WORKER_METRICS_PORT")
    if not port:
        return None
    # Loopback unless told otherwise: the local stack is single-user; a container sets
    # ROLLWAY_WORKER_METRICS_ADDR=0.0.0.0 so its probes and Prometheus reach it.
    addr = os.environ.get("ROLLWAY_WORKER_METRICS_ADDR", "127.0.0.1")
    serve(int(port), health, addr=addr)
    logging.info("worker metrics on %s:%s/metrics, probes on /healthz and /readyz", addr, port)
    return int(port)


def catalog_config(argv: Sequence[str]) -> CatalogConfig:
    """The catalog from the environment; `--allow-inline-pipelines` turns inline specs on."""
    unknown = [a for a in argv if a != "--allow-inline-pipelines"]
    if unknown:
        raise SystemExit(f"worker: unknown argument(s) {unknown}; known: --allow-inline-pipelines")
    return CatalogConfig.from_env(allow_inline=True if argv else None)


async def main(settings: Settings | None = None, argv: Sequence[str] = ()) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    catalog = catalog_config(argv)
    logging.info("worker: %s", catalog.describe())
    health = Health()
    beating = asyncio.create_task(keep_beating(health))
    metrics_port = serve_metrics(health)
    client = await connect(settings=settings)
    # DORA metrics beside the others, recomputed every few minutes (workers/dora_export.py)
    dora = dora_export.start(client) if metrics_port is not None else None
    haproxy = HAProxySupervisor(home())  # a no-op where no local HAProxy ever ran
    haproxy.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    with ThreadPoolExecutor(max_workers=64) as executor:
        worker = build_worker(
            client, executor, graceful_shutdown=GRACEFUL_SHUTDOWN, catalog=catalog
        )
        async with worker:
            logging.info(
                "worker polling task queue %s at %s, namespace %s",
                TASK_QUEUE,
                client.service_client.config.target_host,
                client.namespace,
            )
            health.ready = True
            if stack_link.managed():  # started by `rollway up`
                await stack_link.serve(client, home(), TASK_QUEUE, client.identity, stop)
            else:
                await stop.wait()
            health.ready = False
    haproxy.stop()
    beating.cancel()
    if dora is not None:
        dora.cancel()


def exit_cleanly() -> NoReturn:
    """Exit 0 without interpreter finalization, after a clean shutdown.

    temporalio's Rust threads can abort CPython's finalization (SIGABRT, "PyGILState_Release
    ... finalizing", sdk-python issue 300), which turns a graceful SIGTERM into exit 134 for
    Kubernetes and Docker. Everything is flushed and stopped by now.
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    asyncio.run(main(argv=sys.argv[1:]))
    exit_cleanly()
