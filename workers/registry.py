"""What a Rollway worker runs: every workflow and activity, in one list each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from activities.analysis import analyze
from activities.aws import archive_audit, resolve_image
from activities.build import build
from activities.checks import run_check
from activities.groups import load_groups
from activities.migrate import migrate
from activities.platform import (
    argocd_sync,
    deploy,
    platform_status,
    promote,
    rollback,
    set_weight,
    undo,
    wait_ready,
)
from activities.release_control import ensure_release_control, read_release_control
from activities.scan import scan_gate
from activities.smoke import smoke_test
from workflows.promotion import PromotionWorkflow
from workflows.release_control import ReleaseControlWorkflow

WORKFLOWS: list[type] = [PromotionWorkflow, ReleaseControlWorkflow]

ACTIVITIES: list[Callable[..., Any]] = [
    analyze,
    archive_audit,
    argocd_sync,
    build,
    deploy,
    ensure_release_control,
    load_groups,
    migrate,
    platform_status,
    promote,
    read_release_control,
    resolve_image,
    rollback,
    run_check,
    scan_gate,
    set_weight,
    smoke_test,
    undo,
    wait_ready,
]
