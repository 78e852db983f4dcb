"""Prometheus as a metric provider, through `prometheus-api-client`."""

from __future__ import annotations

import math

from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException


class MetricQueryError(Exception):
    """A query failed (Prometheus down, bad PromQL); the message names the query."""


class PrometheusProvider:
    """Run instant queries and return one number (or None when there is no data)."""

    def __init__(self, url: str, timeout_s: float = 10.0) -> None:
        self.url = url
        self._prom = PrometheusConnect(url=url, disable_ssl=True)
        self._timeout = timeout_s

    def value(self, query: str) -> float | None:
        """The query's single value; None if it returns no series or NaN (no data)."""
        try:
            result = self._prom.custom_query(
                query, params={"timeout": f"{max(1, int(self._timeout))}s"}
            )
        except (PrometheusApiClientException, OSError, ValueError) as e:
            raise MetricQueryError(f"query failed at {self.url}: {e}; query: {query}") from e
        except Exception as e:  # requests' ConnectionError and friends
            raise MetricQueryError(f"Prometheus at {self.url} unreachable: {e}") from e
        if not result:
            return None
        if len(result) > 1:
            raise MetricQueryError(
                f"query returned {len(result)} series, expected one (wrap it in sum()): {query}"
            )
        v = float(result[0]["value"][1])
        return None if math.isnan(v) or math.isinf(v) else v
