"""How a closed run becomes a DORA record (rollway/dora_history.py) and `--commit-time`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rollway.cli.common import UserError
from rollway.cli.promote import parse_commit_time
from rollway.dora_history import reached_production, visibility_query
from rollway.models import CanaryState, Outcome, PromotionResult, PromotionState


def result(outcome: Outcome, canary: CanaryState | None) -> PromotionResult:
    state = PromotionState(service="api", version="v2", commit="abc1234", outcome=outcome)
    state.canary = canary
    return PromotionResult(outcome=outcome, version="v2", state=state)


def canary(step: int, weight: int) -> CanaryState:
    return CanaryState(environment="production", steps=[10, 50], step=step, weight=weight)


def test_production_was_touched_only_when_traffic_moved() -> None:
    assert reached_production("promoted", result(Outcome.PROMOTED, canary(1, 100)), None)
    # the first version goes straight to 100 %: no step, weight 100
    assert reached_production("promoted", result(Outcome.PROMOTED, canary(-1, 100)), None)
    # "already the stable version": promoted, but nothing moved
    assert not reached_production("promoted", result(Outcome.PROMOTED, canary(-1, 0)), None)
    assert reached_production("rolled_back", result(Outcome.ROLLED_BACK, canary(0, 0)), None)
    assert reached_production("failed", result(Outcome.FAILED, canary(0, 10)), None)
    assert not reached_production("failed", result(Outcome.FAILED, None), None)  # build failed
    assert not reached_production("failed", result(Outcome.FAILED, canary(-1, 0)), None)
    assert not reached_production("rejected", result(Outcome.REJECTED, None), None)
    # no result (terminated): the last stage tells
    assert reached_production("terminated", None, "canary")
    assert reached_production("terminated", None, "rollback_stuck")
    assert not reached_production("terminated", None, "approval")


def test_the_visibility_query_reads_closed_runs_of_the_window() -> None:
    since = datetime(2026, 11, 1, 6, 30, tzinfo=UTC)
    q = visibility_query(since, "api", "production")
    assert q == (
        'WorkflowType="PromotionWorkflow" AND ExecutionStatus!="Running" AND '
        'CloseTime>="2026-11-01T06:30:00Z" AND RollwayService="api" AND '
        'RollwayEnvironment="production"'
    )
    with pytest.raises(ValueError, match="service 'a\"b'"):
        visibility_query(since, 'a"b')


def test_commit_time_takes_iso_with_a_zone_or_unix_seconds() -> None:
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    at = parse_commit_time("2026-12-01T10:30:00+01:00", now)
    assert at == datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    assert parse_commit_time(str(int(now.timestamp()) - 60), now) == now - timedelta(minutes=1)
    assert parse_commit_time(None) is None
    for bad, why in (
        ("2026-12-01T10:30:00", "has no time zone"),
        ("yesterday", "is not a time"),
        ("2026-12-01T13:00:00Z", "is in the future"),
    ):
        with pytest.raises(UserError, match=why) as e:
            parse_commit_time(bad, now)
        assert "git show -s --format=%cI" in str(e.value)
