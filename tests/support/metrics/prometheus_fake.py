"""A tiny stand-in for `PrometheusProvider`: counters as functions of time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def linear(rate_per_s: float, since: float = 0.0) -> Callable[[datetime], float | None]:
    """A counter growing at `rate_per_s` from `since` (no series before)."""

    def f(t: datetime) -> float | None:
        s = (t - T0).total_seconds()
        return None if s < since else rate_per_s * (s - since)

    return f


def piecewise(*rates: tuple[float, float]) -> Callable[[datetime], float | None]:
    """A counter with rate r from second s on, for each (s, r) in order."""

    def f(t: datetime) -> float | None:
        s = (t - T0).total_seconds()
        total, prev_s, prev_r = 0.0, None, 0.0
        for start, r in rates:
            if s < start:
                break
            if prev_s is not None:
                total += prev_r * (start - prev_s)
            prev_s, prev_r = start, r
        if prev_s is None:
            return None
        return total + prev_r * (s - prev_s)

    return f


@dataclass
class FakeProm:
    """Answers the exact queries it knows; anything else has no data."""

    values: dict[str, Callable[[datetime], float | None]] = field(default_factory=dict)
    vectors: dict[str, Callable[[datetime], dict[str, float]]] = field(default_factory=dict)
    ranges: dict[str, list[float]] = field(default_factory=dict)
    now_values: dict[str, float] = field(default_factory=dict)
    calls: list[tuple[str, datetime | None]] = field(default_factory=list)

    def value(self, query: str, at: datetime | None = None) -> float | None:
        self.calls.append((query, at))
        if at is None:
            return self.now_values.get(query)
        f = self.values.get(query)
        return f(at) if f else None

    def vector(self, query: str, label: str, at: datetime | None = None) -> dict[str, float]:
        self.calls.append((query, at))
        f = self.vectors.get(query)
        return f(at) if f and at is not None else {}

    def range(self, query: str, start: datetime, end: datetime, step_s: float) -> list[float]:
        self.calls.append((query, start))
        return list(self.ranges.get(query, []))
