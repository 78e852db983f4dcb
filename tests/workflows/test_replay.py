"""Replay every recorded history with today's workflow code.

A change that breaks determinism for promotions already in flight fails here.
Re-record with ROLLWAY_RECORD_HISTORIES=1 only when a change is guarded by
`workflow.patched` (old histories must keep replaying).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workers.registry import WORKFLOWS

HISTORIES = sorted((Path(__file__).resolve().parent.parent / "histories").glob("*.json"))


def test_histories_are_recorded() -> None:
    names = {p.stem for p in HISTORIES}
    assert {
        "timeskip-happy-path",
        "timeskip-auto-rollback",
        "local-good-promotion",
        "local-bad-rolled-back",
        # workflow.patched("release-control"): lock, policy approvals, gate, incidents
        "release-control-gate-waits-promoted",
        "release-control-incident-halt-resume",
        "release-control-ic-override-rollback",
        "release-control-superseded",
        "release-control-race-winner",
        "release-control-workflow",
        "timeskip-waves-promoted",  # Kubernetes clusters: one wave per cluster
        "timeskip-wave-failed-undone",  # second wave fails, the first is undone
        "seed-novapay-argocd",  # staging through argocd_sync
        "aws-image-pinned-rolled-back",  # resolve_image pins the ECR digest, scan, audit
        "timeskip-rebuilt-label-promoted",  # distinct-builds: a rebuilt stable label ramps
        "timeskip-rolled-back-opens-incidents",  # incidents-out: GitHub issue + PagerDuty
        "monitor-failing-declares-incident",  # HealthMonitorWorkflow: check fails, incident
        "notify-slack-thread-rolled-back",  # workflow.patched("notifications"): notify
        "rollback-to-previous",  # RollbackWorkflow: lock, find_releases, traffic, verification
        # workflow.patched("trusted-catalog"): the pipeline loaded by name, or refused inline
        "catalog-by-name-rejected",
        "catalog-inline-refused",
        # workflow.patched("signed-decisions"): authenticated and authorized decisions
        "signed-approvals-promoted",
        "signed-unauthorized-resume-refused",
        "signed-release-control-refused",
        "timeskip-migrations-promoted",  # patch migrations: the migrate stage before the canary
        "timeskip-checks-promoted",  # patch checks: three tiers in parallel, then the gate
    } <= names, names


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_history_replays(path: Path) -> None:
    data = json.loads(path.read_text())
    history = WorkflowHistory.from_json(data.pop("workflowId", path.stem), data)
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None
