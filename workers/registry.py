"""What a Rollway worker runs: every workflow and activity, in one list each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from activities.analysis import analyze
from activities.aws import archive_audit, resolve_image
from activities.build import build
from activities.catalog import load_pipeline
from activities.checks import run_check
from activities.decisions import load_control_policy, verify_decision_signature
from activities.groups import load_groups
from activities.incidents import open_incident
from activities.migrate import migrate
from activities.monitor import declare_monitor_incident, run_health_checks
from activities.notify import notify
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
from activities.releases import find_releases
from activities.scan import scan_gate
from activities.smoke import smoke_test
from workflows.monitor import HealthMonitorWorkflow
from workflows.promotion import PromotionWorkflow
from workflows.release_control import ReleaseControlWorkflow
from workflows.rollback import RollbackWorkflow

WORKFLOWS: list[type] = [
    PromotionWorkflow,
    ReleaseControlWorkflow,
    HealthMonitorWorkflow,
    RollbackWorkflow,
]

ACTIVITIES: list[Callable[..., Any]] = [
    analyze,
    archive_audit,
    argocd_sync,
    build,
    declare_monitor_incident,
    deploy,
    ensure_release_control,
    find_releases,
    load_control_policy,
    load_groups,
    open_incident,
    notify,
    load_pipeline,
    migrate,
    platform_status,
    promote,
    read_release_control,
    resolve_image,
    rollback,
    run_health_checks,
    run_check,
    scan_gate,
    set_weight,
    smoke_test,
    undo,
    verify_decision_signature,
    wait_ready,
]
