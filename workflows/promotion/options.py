"""Activity options per kind of call: timeouts and retries in one place."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.common import RetryPolicy

# Platform writes are idempotent, so retrying them is always safe.
PLATFORM: dict[str, Any] = {
    "start_to_close_timeout": timedelta(minutes=2),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=1),
        maximum_interval=timedelta(seconds=10),
        maximum_attempts=10,
    ),
}

# A rollback must get through: short timeout, many quick retries.
ROLLBACK: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=60),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(milliseconds=500),
        maximum_interval=timedelta(seconds=5),
        maximum_attempts=0,
    ),
}

# A failed measurement becomes an `error` result; do not hold the ramp for long.
ANALYSIS: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=3),
}

SMOKE: dict[str, Any] = {
    "start_to_close_timeout": timedelta(minutes=5),
    "heartbeat_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(maximum_attempts=2),
}


def build_options(timeout: timedelta) -> dict[str, Any]:
    return {
        "start_to_close_timeout": timeout + timedelta(minutes=1),
        "heartbeat_timeout": timedelta(seconds=60),
        "retry_policy": RetryPolicy(initial_interval=timedelta(seconds=5), maximum_attempts=3),
    }


def wait_ready_options(timeout: timedelta) -> dict[str, Any]:
    return {
        "start_to_close_timeout": timeout + timedelta(seconds=30),
        "heartbeat_timeout": timedelta(seconds=30),
        "retry_policy": RetryPolicy(maximum_attempts=3),
    }


def argocd_options(timeout: timedelta) -> dict[str, Any]:
    return {
        "start_to_close_timeout": timeout + timedelta(minutes=1),
        "heartbeat_timeout": timedelta(seconds=60),
        "retry_policy": RetryPolicy(maximum_attempts=3),
    }
