"""DORA's four keys on synthetic promotion records (rollway/dora.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rollway.dora import Deployment, LaterRollback, compute, restore_times
from rollway.spec import DoraTargets

T0 = datetime(2026, 11, 1, tzinfo=UTC)
SINCE, UNTIL = T0, T0 + timedelta(days=30)


def at(minutes: float) -> datetime:
    return T0 + timedelta(days=1, minutes=minutes)


def dep(
    outcome: str,
    minute: float,
    *,
    service: str = "api",
    environment: str = "production",
    version: str = "",
    commit_minutes_before: float | None = None,
    reached: bool | None = None,
) -> Deployment:
    finished = at(minute)
    return Deployment(
        workflow_id=f"promote-{service}-{minute}",
        service=service,
        environment=environment,
        version=version or f"v{minute}",
        outcome=outcome,
        finished_at=finished,
        commit_time=(
            finished - timedelta(minutes=commit_minutes_before)
            if commit_minutes_before is not None
            else None
        ),
        reached_production=outcome in ("promoted", "rolled_back") if reached is None else reached,
    )


def test_frequency_counts_successful_deployments_per_day_of_the_window() -> None:
    report = compute(
        [
            dep("promoted", 0),
            dep("promoted", 60),
            dep("promoted", 120),
            dep("rolled_back", 180),
            dep("rejected", 200),
            dep("superseded", 210),
            dep("promoted", 220, reached=False),  # already the stable version: no change
        ],
        since=SINCE,
        until=UNTIL,
    )
    (g,) = report.groups
    assert (g.deployments, g.successful, g.failed) == (4, 3, 1)
    assert g.deployments_per_day == pytest.approx(3 / 30)
    assert report.ignored == {"promoted": 1, "rejected": 1, "superseded": 1}


def test_only_promotions_finished_inside_the_window_count() -> None:
    before = dep("promoted", 0)
    before.finished_at = SINCE - timedelta(seconds=1)
    after = dep("promoted", 0)
    after.finished_at = UNTIL + timedelta(seconds=1)
    report = compute([before, after, dep("promoted", 5)], since=SINCE, until=UNTIL)
    assert report.overall.successful == 1


def test_median_lead_time_skips_unknown_and_impossible_commit_times() -> None:
    report = compute(
        [
            dep("promoted", 0, commit_minutes_before=10),
            dep("promoted", 10, commit_minutes_before=30),
            dep("promoted", 20, commit_minutes_before=20),
            dep("promoted", 30, commit_minutes_before=40),
            dep("promoted", 40),  # CI passed no commit time
            dep(
                "promoted", 50, commit_minutes_before=-5
            ),  # commit after the promotion: a bad clock
            dep("rolled_back", 60, commit_minutes_before=1000),  # never reached 100 %
        ],
        since=SINCE,
        until=UNTIL,
    )
    (g,) = report.groups
    assert g.lead_time_samples == 4 and g.lead_time_skipped == 1
    assert g.lead_time_median_s == pytest.approx(25 * 60)  # median of 10, 20, 30, 40 minutes


def test_change_failure_rate_counts_production_failures_only() -> None:
    report = compute(
        [
            dep("promoted", 0),
            dep("promoted", 10),
            dep("promoted", 20),
            dep("rolled_back", 30),
            dep("failed", 40, reached=True),  # the rollback itself got stuck in production
            dep("failed", 50, reached=False),  # failed in staging: never a deployment
            dep("rejected", 60),
        ],
        since=SINCE,
        until=UNTIL,
    )
    (g,) = report.groups
    assert g.change_failure_rate == pytest.approx(2 / 5)
    empty = compute([dep("rejected", 0)], since=SINCE, until=UNTIL)
    assert empty.groups == [] and empty.overall.change_failure_rate is None


def test_a_later_rollback_fails_the_release_it_undid_and_restores() -> None:
    ds = [dep("promoted", 0, version="v1"), dep("promoted", 10, version="v2")]
    rollback = LaterRollback(service="api", environment="production", at=at(25), from_version="v2")
    report = compute(ds, since=SINCE, until=UNTIL, rollbacks=[rollback])
    (g,) = report.groups
    assert (g.successful, g.failed) == (1, 1)
    assert g.change_failure_rate == pytest.approx(0.5)
    # v2 went live at minute 10 and the rollback put v1 back at minute 25
    assert g.time_to_restore_mean_s == pytest.approx(15 * 60)
    # a rollback of another service or environment touches nothing here
    other = LaterRollback(service="web", environment="production", at=at(25))
    assert compute(ds, since=SINCE, until=UNTIL, rollbacks=[other]).groups[0].failed == 0


def test_restore_runs_from_the_first_failure_to_the_next_success() -> None:
    report = compute(
        [
            dep("promoted", 0),
            dep("rolled_back", 10),
            dep("rolled_back", 20),  # still broken: the same interval
            dep("promoted", 30),  # restored: 20 minutes after the first failure
            dep("rolled_back", 40),
            dep("promoted", 44),  # restored: 4 minutes
            dep("rolled_back", 50),  # not restored yet
        ],
        since=SINCE,
        until=UNTIL,
    )
    (g,) = report.groups
    assert g.restores == 2
    assert g.time_to_restore_mean_s == pytest.approx(12 * 60)
    assert g.time_to_restore_median_s == pytest.approx(12 * 60)
    assert g.unrestored_since == at(50)


def test_restores_are_per_service_and_environment() -> None:
    ds = [
        dep("rolled_back", 0, service="api"),
        dep("promoted", 5, service="web"),  # another service's success restores nothing
        dep("promoted", 6, service="api", environment="staging-eu"),  # nor another environment
        dep("promoted", 20, service="api"),
    ]
    report = compute(ds, since=SINCE, until=UNTIL)
    groups = {(g.service, g.environment): g for g in report.groups}
    assert set(groups) == {("api", "production"), ("api", "staging-eu"), ("web", "production")}
    assert groups[("api", "production")].time_to_restore_mean_s == pytest.approx(20 * 60)
    assert groups[("web", "production")].restores == 0
    assert report.overall.deployments == 4 and report.overall.restores == 1
    assert report.overall.time_to_restore_mean_s == pytest.approx(20 * 60)


def test_on_a_tie_the_failure_comes_last_and_stays_open() -> None:
    """A success and a failure at the same instant never make a zero-time restore."""
    durations, open_since = restore_times([dep("rolled_back", 0), dep("promoted", 0)])
    assert durations == [] and open_since == at(0)


def test_targets_are_met_strictly_below_and_say_when_there_is_no_data() -> None:
    ds = [dep("promoted", i * 10, commit_minutes_before=60) for i in range(19)]
    ds += [dep("rolled_back", 200), dep("promoted", 214)]  # 1 failure in 21, restored in 14 min
    targets = DoraTargets.model_validate(
        {
            "time_to_restore": "15m",
            "change_failure_rate": "5%",
            "lead_time": "1h",
            "deployments_per_day": 1,
        }
    )
    report = compute(ds, since=SINCE, until=UNTIL, targets={"api": targets})
    checks = {c.metric: c for c in report.groups[0].targets}
    assert checks["time_to_restore_s"].status == "met"  # 14 min < 15 min
    assert checks["change_failure_rate"].status == "met"  # 1/21 = 4.8 % < 5 %
    assert checks["lead_time_s"].status == "missed"  # exactly 1 h is not below 1 h
    assert checks["deployments_per_day"].status == "missed"  # 20 in 30 days
    assert checks["deployments_per_day"].value == pytest.approx(20 / 30)

    only_successes = compute(
        [dep("promoted", 0)], since=SINCE, until=UNTIL, targets={"api": targets}
    )
    checks = {c.metric: c for c in only_successes.groups[0].targets}
    assert checks["time_to_restore_s"].status == "no data"
    assert checks["lead_time_s"].status == "no data"
    assert checks["change_failure_rate"].status == "met"  # 0 of 1


def test_a_window_without_a_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        compute([], since=SINCE.replace(tzinfo=None), until=UNTIL)


def test_seed_001_pipeline_carries_its_targets() -> None:
    """Seed 001: time to restore under 15 minutes, change failure rate under 5 %."""
    from rollway.spec_loader import load_pipeline
    from tests.support.binaries import ROOT

    spec = load_pipeline(ROOT / "pipelines" / "api-gateway.yaml")
    assert spec.dora is not None
    assert spec.dora.targets.time_to_restore == timedelta(minutes=15)
    assert spec.dora.targets.change_failure_rate == 5.0
    ds = [dep("promoted", 0), dep("rolled_back", 10), dep("promoted", 26)]  # restored in 16 min
    report = compute(ds, since=SINCE, until=UNTIL, targets={"api": spec.dora.targets})
    assert {c.metric: c.status for c in report.groups[0].targets} == {
        "change_failure_rate": "missed",
        "time_to_restore_s": "missed",
    }
