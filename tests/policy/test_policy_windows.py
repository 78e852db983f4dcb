"""Deploy windows: parsing, open/next/close, DST transitions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from rollway.policy import DeployWindow, Schedule

NY = ZoneInfo("America/New_York")


def ny(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=NY)


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


MON_THU = Schedule.model_validate(
    [{"days": "mon-thu", "start": "09:00", "end": "16:00", "timezone": "America/New_York"}]
)


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        ("mon-thu", ["mon", "tue", "wed", "thu"]),
        (["mon", "tue", "wed", "thu"], ["mon", "tue", "wed", "thu"]),
        ("mon,wed, Friday", ["mon", "wed", "fri"]),
        ("fri-mon", ["mon", "fri", "sat", "sun"]),
        ("weekdays", ["mon", "tue", "wed", "thu", "fri"]),
        ("Mon\u2013Thu", ["mon", "tue", "wed", "thu"]),
    ],
)
def test_days_forms(days: object, expected: list[str]) -> None:
    w = DeployWindow.model_validate(
        {"days": days, "start": "09:00", "end": "16:00", "timezone": "UTC"}
    )
    assert w.model_dump()["days"] == expected


def test_validation_errors_name_field_and_fix() -> None:
    with pytest.raises(ValidationError) as ei:
        DeployWindow.model_validate(
            {"days": "mon-thx", "start": 960, "end": "25:00", "timezone": "Eastern"}
        )
    text = str(ei.value)
    for needle in ("days", "'thx' is not a day", "start", 'did you mean "16:00"', "end"):
        assert needle in text
    assert "timezone" in text and "America/New_York" in text
    with pytest.raises(ValidationError, match="for a whole day"):
        DeployWindow(days="mon", start="09:00", end="09:00", timezone="UTC")
    with pytest.raises(ValidationError, match="extra"):
        DeployWindow.model_validate(
            {"days": "mon", "start": "09:00", "end": "10:00", "timezone": "UTC", "tz": "x"}
        )


def test_open_bounds_and_describe() -> None:
    assert MON_THU.describe() == "Mon\u2013Thu 09:00\u201316:00 America/New_York"
    assert MON_THU.is_open(ny(2026, 11, 19, 9, 0))  # start inclusive
    assert MON_THU.is_open(ny(2026, 11, 19, 15, 59))
    assert not MON_THU.is_open(ny(2026, 11, 19, 16, 0))  # end exclusive
    assert not MON_THU.is_open(ny(2026, 11, 20, 12, 0))  # Friday
    assert MON_THU.closes_at(ny(2026, 11, 19, 10, 0)) == ny(2026, 11, 19, 16, 0)
    assert MON_THU.closes_at(ny(2026, 11, 20, 10, 0)) is None
    at = ny(2026, 11, 19, 10, 0)
    assert MON_THU.next_open(at) == at


def test_thursday_evening_next_open_is_monday_morning() -> None:
    nxt = MON_THU.next_open(ny(2026, 11, 19, 16, 30))
    assert nxt == utc(2026, 11, 23, 14, 0)  # Mon 09:00 EST
    assert nxt.tzinfo is UTC


@pytest.mark.parametrize(
    ("before", "after", "before_utc_hour", "after_utc_hour"),
    [
        # spring forward Sun 2026-03-08: EST (UTC-5) -> EDT (UTC-4)
        (ny(2026, 3, 5, 8), ny(2026, 3, 6, 17), 14, 13),
        # fall back Sun 2026-11-01: EDT (UTC-4) -> EST (UTC-5)
        (ny(2026, 10, 29, 8), ny(2026, 10, 30, 17), 13, 14),
    ],
)
def test_dst_window_opens_at_nine_local_on_both_sides(
    before: datetime, after: datetime, before_utc_hour: int, after_utc_hour: int
) -> None:
    first = MON_THU.next_open(before)
    second = MON_THU.next_open(after)
    assert first.hour == before_utc_hour and second.hour == after_utc_hour
    for t in (first, second):
        local = t.astimezone(NY)
        assert (local.hour, local.minute) == (9, 0)
    assert second.astimezone(NY).weekday() == 0  # Monday after the change
    # and it closes at 16:00 local on both sides
    for t in (first, second):
        closes = MON_THU.closes_at(t)
        assert closes is not None and closes.astimezone(NY).hour == 16


def test_daily_window_spans_dst_day_with_local_hours() -> None:
    w = DeployWindow(days="daily", start="09:00", end="16:00", timezone="America/New_York")
    # Sunday of the spring change and the following Monday both open at 09:00 local
    assert w.next_open(utc(2026, 3, 8, 0)) == utc(2026, 3, 8, 13)
    assert w.next_open(utc(2026, 3, 7, 0)) == utc(2026, 3, 7, 14)
    assert w.next_open(utc(2026, 11, 1, 0)) == utc(2026, 11, 1, 14)
    assert w.next_open(utc(2026, 10, 31, 0)) == utc(2026, 10, 31, 13)


def test_nonexistent_start_shifts_forward_by_the_gap() -> None:
    # 02:30 does not exist on 2026-03-08 in New York; it opens at 03:30 EDT (07:30 UTC)
    w = DeployWindow(days="sun", start="02:30", end="04:00", timezone="America/New_York")
    opens = w.next_open(utc(2026, 3, 7))
    assert opens == utc(2026, 3, 8, 7, 30)
    assert opens.astimezone(NY).strftime("%H:%M %Z") == "03:30 EDT"


def test_window_emptied_by_gap_is_skipped_that_day() -> None:
    # 02:15 -> 03:15 EDT (07:15 UTC), but 03:00 EDT is 07:00 UTC: empty; next Sunday instead
    w = DeployWindow(days="sun", start="02:15", end="03:00", timezone="America/New_York")
    assert w.next_open(utc(2026, 3, 7)) == ny(2026, 3, 15, 2, 15)


def test_ambiguous_times_use_first_occurrence() -> None:
    # 01:30 happens twice on 2026-11-01; the window opens at the first (EDT, 05:30 UTC)
    # and ends at 03:00 EST (08:00 UTC), so it includes the repeated hour.
    w = DeployWindow(days="sun", start="01:30", end="03:00", timezone="America/New_York")
    assert w.next_open(utc(2026, 10, 31)) == utc(2026, 11, 1, 5, 30)
    assert w.closes_at(utc(2026, 11, 1, 6, 30)) == utc(2026, 11, 1, 8, 0)


def test_overnight_window_belongs_to_opening_day() -> None:
    w = DeployWindow(days="fri", start="22:00", end="02:00", timezone="America/New_York")
    assert w.is_open(ny(2026, 11, 20, 23))
    assert w.is_open(ny(2026, 11, 21, 1, 59))  # Saturday early morning
    assert not w.is_open(ny(2026, 11, 21, 2))
    assert not w.is_open(ny(2026, 11, 21, 23))  # Saturday night: not a Friday window
    assert w.closes_at(ny(2026, 11, 21, 1)) == ny(2026, 11, 21, 2)


def test_schedule_unions_and_back_to_back_windows() -> None:
    s = Schedule.model_validate(
        [
            {"days": "mon", "start": "00:00", "end": "24:00", "timezone": "UTC"},
            {"days": "tue", "start": "00:00", "end": "12:00", "timezone": "UTC"},
            {"days": "sat", "start": "10:00", "end": "11:00", "timezone": "Asia/Tokyo"},
        ]
    )
    # Monday 12:00 -> closes Tuesday 12:00 (chained through midnight)
    assert s.closes_at(utc(2026, 11, 23, 12)) == utc(2026, 11, 24, 12)
    # Wednesday -> next is Saturday 10:00 Tokyo = Saturday 01:00 UTC
    assert s.next_open(utc(2026, 11, 25)) == utc(2026, 11, 28, 1)
    assert "Asia/Tokyo" in s.describe()


def test_empty_schedule_is_unrestricted_and_always_open_never_closes() -> None:
    empty = Schedule([])
    at = utc(2026, 1, 1)
    assert empty.is_open(at) and empty.next_open(at) == at and empty.closes_at(at) is None
    always = Schedule.model_validate(
        [{"days": "daily", "start": "00:00", "end": "24:00", "timezone": "UTC"}]
    )
    assert always.closes_at(at) is None


def test_naive_datetimes_are_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        MON_THU.is_open(datetime(2026, 1, 1, 12))


def test_non_utc_aware_input_gives_utc_output() -> None:
    nxt = MON_THU.next_open(ny(2026, 11, 21, 12))
    assert nxt.utcoffset() == timedelta(0) and nxt == ny(2026, 11, 23, 9)
