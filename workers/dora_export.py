"""DORA metrics among the worker's Prometheus metrics, recomputed every few minutes.

The worker that serves `/metrics` (ROLLWAY_WORKER_METRICS_PORT) also reads closed
promotions from Temporal every `ROLLWAY_DORA_INTERVAL` (default 5m; `0` turns it off)
over the last `ROLLWAY_DORA_WINDOW` (default 30d), at most `ROLLWAY_DORA_LIMIT` runs
(default 1000). Closed runs never change, so each is read once (`RecordCache`); a
refresh then costs one visibility listing plus two reads per newly closed run.

Per service and environment (`rollway/dora.py` says how each is counted):

* `rollway_dora_deployments{service,environment,result}`: deployments in the window, success|failure
* `rollway_dora_deployment_frequency_per_day{…}`: successful deployments a day
* `rollway_dora_lead_time_median_seconds{…}`: commit time to 100 %
* `rollway_dora_change_failure_ratio{…}`: failed / deployments (0..1)
* `rollway_dora_time_to_restore_mean_seconds{…}`, `…_median_seconds{…}`
* `rollway_dora_unrestored_since_timestamp_seconds{…}`: a failure not restored yet
* `rollway_dora_target_met{…,metric}`: 1 met, 0 missed, per pipeline target with data
* `rollway_dora_window_seconds`, `rollway_dora_last_refresh_timestamp_seconds`,
  `rollway_dora_refresh_errors_total`, `rollway_dora_runs_read_total`
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from prometheus_client.core import REGISTRY, CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from rollway.dora import DoraReport, compute
from rollway.dora_history import RecordCache, later_rollbacks, read_history
from rollway.durations import parse_duration

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric
    from temporalio.client import Client

log = logging.getLogger(__name__)
LABELS = ["service", "environment"]
MIN_INTERVAL = timedelta(seconds=10)


class DoraCollector(Collector):
    """Serves the last computed report; `refresh` computes a new one."""

    def __init__(self, window: timedelta, limit: int = 1000) -> None:
        self.window = window
        self.limit = limit
        self.cache = RecordCache(max_runs=limit)
        self.report: DoraReport | None = None
        self.refreshed_at: float | None = None
        self.errors = 0
        self.runs_read = 0

    async def refresh(self, client: Client) -> DoraReport:
        until = datetime.now(UTC)
        since = until - self.window
        history = await read_history(client, since=since, limit=self.limit, cache=self.cache)
        self.runs_read += history.fetched
        self.report = compute(
            history.deployments,
            since=since,
            until=until,
            rollbacks=await later_rollbacks(client, since),
            targets=history.targets,
            truncated=history.truncated,
        )
        self.refreshed_at = time.time()
        return self.report

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "rollway_dora_window_seconds",
            "How far back the DORA metrics reach.",
            value=self.window.total_seconds(),
        )
        yield CounterMetricFamily(
            "rollway_dora_refresh_errors", "DORA refreshes that failed.", value=self.errors
        )
        yield CounterMetricFamily(
            "rollway_dora_runs_read", "Closed promotions read from Temporal.", value=self.runs_read
        )
        if self.report is None or self.refreshed_at is None:
            return
        yield GaugeMetricFamily(
            "rollway_dora_last_refresh_timestamp_seconds",
            "When the DORA metrics were last computed.",
            value=self.refreshed_at,
        )
        yield from self._groups(self.report)

    def _groups(self, report: DoraReport) -> Iterator[Metric]:
        def gauge(name: str, doc: str, extra: list[str] | None = None) -> GaugeMetricFamily:
            return GaugeMetricFamily(f"rollway_dora_{name}", doc, labels=LABELS + (extra or []))

        deployments = gauge("deployments", "Deployments in the window.", ["result"])
        frequency = gauge("deployment_frequency_per_day", "Successful deployments a day.")
        lead = gauge("lead_time_median_seconds", "Median commit time to 100 %.")
        cfr = gauge("change_failure_ratio", "Failed deployments / deployments.")
        ttr_mean = gauge("time_to_restore_mean_seconds", "Mean failure-to-restore time.")
        ttr_median = gauge("time_to_restore_median_seconds", "Median failure-to-restore time.")
        open_since = gauge("unrestored_since_timestamp_seconds", "A failure not restored yet.")
        target = gauge("target_met", "A pipeline's DORA target: 1 met, 0 missed.", ["metric"])
        for m in report.groups:
            key = [m.service, m.environment]
            deployments.add_metric([*key, "success"], m.successful)
            deployments.add_metric([*key, "failure"], m.failed)
            frequency.add_metric(key, m.deployments_per_day)
            for family, value in (
                (lead, m.lead_time_median_s),
                (cfr, m.change_failure_rate),
                (ttr_mean, m.time_to_restore_mean_s),
                (ttr_median, m.time_to_restore_median_s),
                (open_since, m.unrestored_since.timestamp() if m.unrestored_since else None),
            ):
                if value is not None:
                    family.add_metric(key, value)
            for c in m.targets:
                if c.status != "no data":
                    target.add_metric([*key, c.metric], 1.0 if c.status == "met" else 0.0)
        yield from (deployments, frequency, lead, cfr, ttr_mean, ttr_median, open_since, target)


async def refresh_forever(client: Client, collector: DoraCollector, every: timedelta) -> None:
    """Recompute every `every` until cancelled; a failed refresh keeps the last report."""
    while True:
        try:
            await asyncio.wait_for(collector.refresh(client), every.total_seconds())
        except asyncio.CancelledError:
            raise
        except Exception as e:  # Temporal briefly unreachable: try again next time
            collector.errors += 1
            log.warning("DORA metrics refresh failed: %s", e)
        await asyncio.sleep(every.total_seconds())


_registered: DoraCollector | None = None


def _duration(name: str, raw: str) -> timedelta:
    try:
        return parse_duration(raw)
    except (ValueError, OverflowError) as e:
        raise SystemExit(f"worker: {name}='{raw}': {e}") from None


def settings() -> tuple[timedelta, timedelta, int]:
    """(interval, window, limit) from the environment; a bad value names its variable."""
    every = _duration("ROLLWAY_DORA_INTERVAL", os.environ.get("ROLLWAY_DORA_INTERVAL", "5m"))
    window = _duration("ROLLWAY_DORA_WINDOW", os.environ.get("ROLLWAY_DORA_WINDOW", "30d"))
    raw = os.environ.get("ROLLWAY_DORA_LIMIT", "1000")
    if not raw.isdigit() or not 1 <= int(raw) <= 100_000:
        raise SystemExit(f"worker: ROLLWAY_DORA_LIMIT='{raw}': give a number of runs, 1 to 100000")
    if window <= timedelta(0):
        raise SystemExit("worker: ROLLWAY_DORA_WINDOW must be above 0, e.g. 30d")
    return every, window, int(raw)


def start(client: Client) -> asyncio.Task[None] | None:
    """Register the collector and start refreshing it (None when ROLLWAY_DORA_INTERVAL=0)."""
    global _registered
    every, window, limit = settings()
    if every <= timedelta(0):
        return None
    every = max(every, MIN_INTERVAL)
    if _registered is None:
        _registered = DoraCollector(window, limit)
        REGISTRY.register(_registered)
    return asyncio.create_task(refresh_forever(client, _registered, every), name="dora-metrics")
