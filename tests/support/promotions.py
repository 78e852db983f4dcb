"""Promotion helpers for workflow tests: a small pipeline, the `state` query, waits."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from temporalio.client import WorkflowHandle
from temporalio.service import RPCError

from rollway.models import PromotionState
from workflows.promotion import PromotionWorkflow


def pipeline(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "service": "demo",
        "run": {"command": ["python", "app.py"]},
        "build": {"command": ["./build.sh"]},
        "scan": {"reports": ["bandit.sarif"]},
        "staging": {"smoke": [{"path": "/healthz"}]},
        "approval": {"required": 1},
        "canary": {
            "steps": [
                {"weight": 5, "soak": "15m"},
                {"weight": 25, "soak": "15m"},
                {"weight": 50, "soak": "15m"},
            ],
            "analysis": {
                "interval": "1m",
                "failure_limit": 2,
                "inconclusive_limit": 3,
                "metrics": [
                    {"name": "success-rate", "template": "haproxy-success-rate", "min": 0.99}
                ],
            },
        },
    }
    spec.update(overrides)
    return spec


async def query_state(handle: WorkflowHandle[Any, Any]) -> PromotionState:
    """The `state` query, retried: the test server can drop a query that races a task."""
    for _ in range(20):
        try:
            return await asyncio.wait_for(handle.query(PromotionWorkflow.query_state), 10)
        except (RPCError, TimeoutError):
            await asyncio.sleep(0.1)
    raise AssertionError("the state query never answered")


async def wait_until(
    handle: WorkflowHandle[Any, Any], ok: Callable[[PromotionState], bool]
) -> PromotionState:
    for _ in range(100):
        await asyncio.sleep(0.3)
        state = await query_state(handle)
        if ok(state):
            return state
    raise AssertionError(f"condition never met; stage {state.stage}")


async def wait_stage(handle: WorkflowHandle[Any, Any], stage: str) -> None:
    await wait_until(handle, lambda s: s.stage.value == stage)
