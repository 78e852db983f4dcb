"""Activity options per kind of call: timeouts and retries in one place."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.common import RetryPolicy
from temporalio.workflow import ActivityCancellationType

# Platform writes are idempotent, so retrying them is always safe.
PLATFORM: dict[str, Any] = {
    "start_to_close_timeout": timedelta(minutes=2),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=1),
        maximum_interval=timedelta(seconds=10),
        maximum_attempts=10,
    ),
}

# Executions with the `honest-failures` patch: platform calls heartbeat, and a cancel
# waits until the call has finished or acknowledged, so no late write lands after a
# rollback and the outcome is recorded only once the platform is quiet.
PLATFORM_CALL: dict[str, Any] = {
    **PLATFORM,
    "heartbeat_timeout": timedelta(seconds=30),
    "cancellation_type": ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
}


# A rollback must get through, but never silently forever: each escalation level has
# bounded attempts and a schedule-to-close; between levels the state says
# `rollback_stuck` with the last error; after the last one the promotion ends `failed`.
def _rollback_level(first: timedelta, longest: timedelta, budget: timedelta) -> dict[str, Any]:
    """Five attempts, backing off from `first` to `longest`, within `budget` in all."""
    return {
        "start_to_close_timeout": timedelta(seconds=60),
        "schedule_to_close_timeout": budget,
        "heartbeat_timeout": timedelta(seconds=30),
        "retry_policy": RetryPolicy(
            initial_interval=first, maximum_interval=longest, maximum_attempts=5
        ),
    }


ROLLBACK_LEVELS: list[dict[str, Any]] = [
    _rollback_level(timedelta(milliseconds=500), timedelta(seconds=5), timedelta(minutes=2)),
    _rollback_level(timedelta(seconds=10), timedelta(minutes=1), timedelta(minutes=10)),
    _rollback_level(timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30)),
]

# Executions before the `honest-failures` patch: retried without bound.
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


INCIDENT: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=60),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=2),
        maximum_interval=timedelta(seconds=30),
        maximum_attempts=6,
    ),
}
"""Opening an incident: about two minutes of retries (every sink deduplicates), then a warning."""
