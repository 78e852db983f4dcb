"""Prometheus as a metric provider, through `prometheus-api-client`."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Protocol


class MetricQueryError(Exception):
    """A query failed (Prometheus down, bad PromQL); the message names the query."""


class MetricsProvider(Protocol):
    """What the judges need from a metrics backend (tests pass a small fake)."""

    def value(self, query: str, at: datetime | None = None) -> float | None: ...

    def vector(self, query: str, label: str, at: datetime | None = None) -> dict[str, float]: ...

    def range(self, query: str, start: datetime, end: datetime, step_s: float) -> list[float]: ...


def _number(raw: Any) -> float | None:
    v = float(raw)
    return None if math.isnan(v) or math.isinf(v) else v


class PrometheusProvider:
    """Instant queries (one number, or one number per label value) and range queries."""

    def __init__(self, url: str, timeout_s: float = 10.0) -> None:
        from prometheus_api_client import PrometheusConnect
        from urllib3.util.retry import Retry

        self.url = url
        # Few quick retries: the activity's own retry policy handles longer outages.
        retry = Retry(total=2, backoff_factor=0.1, status_forcelist=[502, 503, 504])
        self._prom = PrometheusConnect(
            url=url, disable_ssl=True, retry=retry, timeout=max(1, int(timeout_s) + 2)
        )
        self._timeout = timeout_s

    def _params(self, at: datetime | None = None) -> dict[str, str]:
        params = {"timeout": f"{max(1, int(self._timeout))}s"}
        if at is not None:
            params["time"] = f"{at.timestamp():.3f}"
        return params

    def _call(self, query: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        from prometheus_api_client.exceptions import PrometheusApiClientException

        try:
            return fn(*args, **kwargs)
        except (PrometheusApiClientException, OSError, ValueError) as e:
            raise MetricQueryError(f"query failed at {self.url}: {e}; query: {query}") from e
        except Exception as e:  # requests' ConnectionError and friends
            raise MetricQueryError(f"Prometheus at {self.url} unreachable: {e}") from e

    def value(self, query: str, at: datetime | None = None) -> float | None:
        """The query's single value (at `at`, default now); None for no series or NaN."""
        result = self._call(query, self._prom.custom_query, query, params=self._params(at))
        if not result:
            return None
        if len(result) > 1:
            raise MetricQueryError(
                f"query returned {len(result)} series, expected one (wrap it in sum()): {query}"
            )
        return _number(result[0]["value"][1])

    def vector(self, query: str, label: str, at: datetime | None = None) -> dict[str, float]:
        """One value per value of `label` (e.g. `le` of `sum by (le) (…_bucket)`)."""
        result = self._call(query, self._prom.custom_query, query, params=self._params(at))
        out: dict[str, float] = {}
        for series in result or []:
            key = series.get("metric", {}).get(label)
            v = _number(series["value"][1])
            if key is not None and v is not None:
                out[key] = out.get(key, 0.0) + v
        return out

    def range(self, query: str, start: datetime, end: datetime, step_s: float) -> list[float]:
        """Samples of a single-series query from `start` to `end` every `step_s` seconds."""
        params = {"timeout": f"{max(1, int(self._timeout))}s"}
        result = self._call(
            query,
            self._prom.custom_query_range,
            query,
            start_time=start,
            end_time=end,
            step=f"{max(step_s, 0.001):g}s",
            params=params,
        )
        if not result:
            return []
        if len(result) > 1:
            raise MetricQueryError(
                f"query returned {len(result)} series, expected one (wrap it in sum()): {query}"
            )
        return [v for _, raw in result[0]["values"] if (v := _number(raw)) is not None]
