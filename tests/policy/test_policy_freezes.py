"""Freeze periods: date ranges, quarter ends, launches, incidents."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
import yaml
from pydantic import ValidationError

from rollway.policy import FreezeCalendar, QuarterEndFreeze

NY = ZoneInfo("America/New_York")


def ny(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=NY)


QUARTER = FreezeCalendar.model_validate(
    [{"kind": "last-week-of-quarter", "timezone": "America/New_York"}]
)


@pytest.mark.parametrize(
    ("first", "last"),
    [
        (date(2026, 3, 25), date(2026, 3, 31)),
        (date(2026, 6, 24), date(2026, 6, 30)),
        (date(2026, 9, 24), date(2026, 9, 30)),
        (date(2026, 12, 25), date(2026, 12, 31)),
    ],
)
def test_last_week_of_quarter_is_last_seven_local_days(first: date, last: date) -> None:
    day_before = ny(first.year, first.month, first.day - 1, 23, 59)
    assert not QUARTER.is_frozen(day_before)
    assert QUARTER.is_frozen(ny(first.year, first.month, first.day, 0, 0))
    assert QUARTER.is_frozen(ny(last.year, last.month, last.day, 23, 59))
    (info,) = QUARTER.active_freezes(ny(last.year, last.month, last.day, 12))
    assert info.kind == "last-week-of-quarter"
    assert info.starts_at == ny(first.year, first.month, first.day)
    assert info.ends_at is not None
    assert info.ends_at.astimezone(NY).date().day == 1  # local midnight, 1st of next month
    assert QUARTER.next_unfrozen(ny(last.year, last.month, last.day, 12)) == info.ends_at


def test_quarter_end_uses_policy_time_zone() -> None:
    # 2026-03-25 02:00 UTC is still 24 Mar 22:00 in New York: not frozen there, frozen in UTC
    at = datetime(2026, 3, 25, 2, tzinfo=UTC)
    assert not QUARTER.is_frozen(at)
    assert QuarterEndFreeze(kind="last-week-of-quarter", timezone="UTC").occurrence_at(at)
    reason = QUARTER.active_freezes(ny(2026, 12, 28))[0].reason
    assert reason == "last week of Q4 2026 (Dec 25\u201331, America/New_York)"


def test_before_launch_two_weeks() -> None:
    cal = FreezeCalendar.model_validate(
        yaml.safe_load(
            """
- kind: before-launch
  launch: Rollway 2.0
  launch_date: 2026-06-15
  lead: 2w
  timezone: America/New_York
"""
        )
    )
    assert not cal.is_frozen(ny(2026, 5, 31, 23, 59))
    assert cal.is_frozen(ny(2026, 6, 1, 0, 0))  # 14 days before
    assert cal.is_frozen(ny(2026, 6, 15, 12))  # launch day included by default
    assert not cal.is_frozen(ny(2026, 6, 16, 0, 0))
    (info,) = cal.active_freezes(ny(2026, 6, 8))
    assert "Rollway 2.0" in info.reason and "14 days" in info.reason
    excl = FreezeCalendar.model_validate(
        [
            {
                "kind": "before-launch",
                "launch": "x",
                "launch_date": "2026-06-15",
                "lead": "14d",
                "include_launch_day": False,
                "timezone": "America/New_York",
            }
        ]
    )
    assert not excl.is_frozen(ny(2026, 6, 15, 12))


def test_date_range_inclusive_dates_and_exact_datetimes() -> None:
    cal = FreezeCalendar.model_validate(
        [
            {"start": "2026-12-21", "end": "2026-12-23", "reason": "holidays", "timezone": "UTC"},
            {
                "kind": "dates",
                "start": "2027-01-04T09:00",
                "end": "2027-01-04T17:00",
                "reason": "audit",
                "timezone": "America/New_York",
            },
        ]
    )
    utc = UTC
    assert cal.is_frozen(datetime(2026, 12, 23, 23, 59, tzinfo=utc))  # end date inclusive
    assert not cal.is_frozen(datetime(2026, 12, 24, 0, 0, tzinfo=utc))
    assert cal.is_frozen(ny(2027, 1, 4, 9))
    assert not cal.is_frozen(ny(2027, 1, 4, 17))  # datetime end exclusive
    assert cal.active_freezes(ny(2027, 1, 4, 12))[0].describe() == (
        "frozen: audit until Mon 2027-01-04 17:00 EST"
    )


def test_overlapping_freezes_chain_in_next_unfrozen() -> None:
    cal = FreezeCalendar.model_validate(
        [
            {"kind": "last-week-of-quarter", "timezone": "America/New_York"},
            {"start": "2027-01-01", "end": "2027-01-03", "reason": "new year", "timezone": "UTC"},
        ]
    )
    # Q4 freeze ends 2027-01-01 05:00 UTC, inside the new-year freeze ending 2027-01-04 00:00 UTC
    assert cal.next_unfrozen(ny(2026, 12, 28)) == datetime(2027, 1, 4, tzinfo=UTC)


def test_incident_freeze_is_caller_driven_and_ignored_by_time() -> None:
    cal = FreezeCalendar.model_validate([{"kind": "incident", "severities": ["sev1", 2]}])
    at = ny(2026, 11, 19, 12)
    assert cal.active_freezes(at) == []
    assert cal.active_freezes(at, active_incident_severities=["SEV-3"]) == []
    (info,) = cal.active_freezes(at, active_incident_severities=["SEV-2"])
    assert info.kind == "incident" and "SEV-2" in info.reason and info.ends_at is None
    assert cal.next_unfrozen(at) == at


@pytest.mark.parametrize(
    ("entry", "needle"),
    [
        ({"kind": "nope"}, "each freeze needs `kind`"),
        ({"reason": "x"}, "each freeze needs `kind`"),
        (
            {"start": "2026-01-05", "end": "2026-01-01", "reason": "r", "timezone": "UTC"},
            "is not after start",
        ),
        (
            {
                "kind": "before-launch",
                "launch": "x",
                "launch_date": "2026-01-01",
                "lead": "36h",
                "timezone": "UTC",
            },
            "whole number of days",
        ),
        ({"kind": "last-week-of-quarter", "timezone": "NYC"}, "IANA name"),
        ({"kind": "incident", "severities": ["urgent"]}, "'SEV-1'"),
    ],
)
def test_freeze_validation_errors(entry: dict[str, object], needle: str) -> None:
    with pytest.raises(ValidationError, match=needle):
        FreezeCalendar.model_validate([entry])
