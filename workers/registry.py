"""What a Rollway worker runs: every workflow and activity, in one list each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from activities.analysis import analyze
from activities.build import build
from activities.platform import (
    deploy,
    platform_status,
    promote,
    rollback,
    set_weight,
    wait_ready,
)
from activities.scan import scan_gate
from activities.smoke import smoke_test
from workflows.promotion import PromotionWorkflow

WORKFLOWS: list[type] = [PromotionWorkflow]

ACTIVITIES: list[Callable[..., Any]] = [
    analyze,
    build,
    deploy,
    platform_status,
    promote,
    rollback,
    scan_gate,
    set_weight,
    smoke_test,
    wait_ready,
]
