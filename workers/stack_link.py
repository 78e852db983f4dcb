"""The worker's link to the local stack that `rollway up` runs.

`up` starts the worker with ROLLWAY_STACK_WORKER=1 and no address in its
environment: the worker reads Temporal's address from `$ROLLWAY_HOME/stack.json`
(and the analysis reads Prometheus' URL from there on every query), so a
restarted part is found where `up` recorded it. Two duties here:

- readiness: once the Temporal server lists this process among the pollers of
  its task queue, write `worker.ready.json` (pid, start time, address); `up`
  reports a worker only from that file, so it never mistakes an old worker's
  log line for a new worker polling;
- staleness: when `stack.json` names another Temporal address than the one
  this worker dials (the server was restarted on a new port), the worker
  re-executes itself (same pid, fresh process image) and so connects to the
  new address. It fails fast instead of dialling a dead port; its activities
  are retry-safe, so work in flight is retried by Temporal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from rollway.home import write_json
from rollway.platform.local.processes import _start_ticks
from rollway.security.codec import keyring_of
from rollway.stack import WORKER_READY, temporal_address

log = logging.getLogger(__name__)


def managed() -> bool:
    """True when `rollway up` started this worker."""
    return os.environ.get("ROLLWAY_STACK_WORKER") == "1"


async def _polling(client: Client, task_queue: str, identity: str, since: datetime) -> bool:
    resp = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    return any(
        p.identity == identity and p.last_access_time.ToDatetime(tzinfo=UTC) >= since
        for p in resp.pollers
    )


async def report_ready(
    client: Client, home: Path, task_queue: str, identity: str, within: float = 60.0
) -> bool:
    """Write the ready file once the server sees this worker poll; False on timeout."""
    since = datetime.now(UTC) - timedelta(seconds=2)  # clock granularity on the server
    keyring = keyring_of(client.data_converter)
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if await _polling(client, task_queue, identity, since):
                write_json(
                    home / WORKER_READY,
                    {
                        "pid": os.getpid(),
                        "start_ticks": _start_ticks(os.getpid()),
                        "temporal": client.service_client.config.target_host,
                        "task_queue": task_queue,
                        "identity": identity,
                        "polling_since": datetime.now(UTC).isoformat(),
                        # the payload keys it decrypts: `up` restarts it after a rotation
                        "codec_keys": sorted(keyring.keys) if keyring else [],
                    },
                )
                log.info("worker ready: the server lists %s polling %s", identity, task_queue)
                return True
        except Exception as e:  # the server may still be starting
            log.debug("describe_task_queue: %s", e)
        await asyncio.sleep(0.2)
    log.error("the server never listed this worker polling %s in %.0fs", task_queue, within)
    return False


async def serve(
    client: Client, home: Path, task_queue: str, identity: str, stop: asyncio.Event
) -> None:
    """Report readiness, then wait for `stop`; re-execute when Temporal's address moves."""
    connected = client.service_client.config.target_host
    ready = asyncio.create_task(report_ready(client, home, task_queue, identity))
    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
            if stop.is_set():
                return
            recorded = temporal_address(home)
            if recorded and recorded != connected:
                log.warning(
                    "the stack's Temporal moved from %s to %s: restarting this worker",
                    connected,
                    recorded,
                )
                logging.shutdown()
                sys.stdout.flush()
                sys.stderr.flush()
                os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])
    finally:
        ready.cancel()
