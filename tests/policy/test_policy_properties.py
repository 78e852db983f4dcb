"""Property tests: next_open / closes_at / earliest_open over random windows and zones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rollway.policy import DeployWindow, FreezeCalendar, ReleasePolicy, Schedule, earliest_open

# Zones with awkward transitions: 1h DST (NY, London, at different UTC instants), 30-min DST
# (Lord Howe), DST at local midnight (Santiago), no DST (Kolkata, UTC), and a skipped day
# (Apia, 2011-12-30).
ZONES = [
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Asia/Kolkata",
    "Pacific/Apia",
    "UTC",
]
TICK = timedelta(microseconds=1)
GRID = timedelta(minutes=37)  # deliberately not aligned with the 15-minute window grid

PROPS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def windows(draw: st.DrawFn) -> DeployWindow:
    days = draw(st.lists(st.integers(0, 6), min_size=1, max_size=7, unique=True))
    start = draw(st.integers(0, 95)) * 15
    end = draw(st.integers(1, 96).filter(lambda e: (e * 15) % 1440 != start)) * 15
    return DeployWindow.model_validate(
        {
            "days": days,
            "start": f"{start // 60:02d}:{start % 60:02d}",
            "end": f"{end // 60:02d}:{end % 60:02d}",
            "timezone": draw(st.sampled_from(ZONES)),
        }
    )


schedules = st.lists(windows(), min_size=1, max_size=3).map(Schedule)
instants = st.datetimes(
    min_value=datetime(2011, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
)


@PROPS
@given(schedule=schedules, at=instants)
def test_next_open_is_the_first_open_instant(schedule: Schedule, at: datetime) -> None:
    nxt = schedule.next_open(at)
    assert nxt >= at
    assert schedule.is_open(nxt)
    if nxt > at:
        assert not schedule.is_open(nxt - TICK)
    t = at
    while t < nxt:
        assert not schedule.is_open(t), f"open at {t}, before next_open {nxt}"
        t += GRID


@PROPS
@given(schedule=schedules, at=instants)
def test_closes_at_is_the_first_closed_instant(schedule: Schedule, at: datetime) -> None:
    opened = schedule.next_open(at)
    closes = schedule.closes_at(opened)
    if closes is None:  # open around the clock
        return
    assert closes > opened
    assert schedule.is_open(closes - TICK)
    assert not schedule.is_open(closes)
    t = opened
    while t < closes:
        assert schedule.is_open(t)
        t += GRID


@st.composite
def freezes(draw: st.DrawFn) -> FreezeCalendar:
    entries: list[dict[str, object]] = []
    if draw(st.booleans()):
        entries.append(
            {
                "kind": "last-week-of-quarter",
                "days": draw(st.integers(1, 28)),
                "timezone": draw(st.sampled_from(ZONES)),
            }
        )
    for _ in range(draw(st.integers(0, 3))):
        start = draw(
            st.dates(min_value=datetime(2011, 1, 1).date(), max_value=datetime(2027, 12, 1).date())
        )
        entries.append(
            {
                "kind": "dates",
                "start": start,
                "end": start + timedelta(days=draw(st.integers(0, 20))),
                "reason": "r",
                "timezone": draw(st.sampled_from(ZONES)),
            }
        )
    return FreezeCalendar.model_validate(entries)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schedule=schedules, cal=freezes(), at=instants)
def test_earliest_open_combines_windows_and_freezes(
    schedule: Schedule, cal: FreezeCalendar, at: datetime
) -> None:
    policy = ReleasePolicy(windows=schedule, freezes=cal)
    first = earliest_open(policy, at)
    assert first is not None and first >= at
    assert schedule.is_open(first) and not cal.is_frozen(first)
    if first > at:
        before = first - TICK
        assert not schedule.is_open(before) or cal.is_frozen(before)
    step = max(GRID, (first - at) / 400)  # keep long freeze waits cheap
    t = at
    while t < first:
        assert not schedule.is_open(t) or cal.is_frozen(t), f"deployable at {t} < {first}"
        t += step


@PROPS
@given(at=instants)
def test_next_unfrozen_is_unfrozen_and_not_early(at: datetime) -> None:
    cal = FreezeCalendar.model_validate(
        [
            {"kind": "last-week-of-quarter", "timezone": "America/New_York"},
            {"kind": "last-week-of-quarter", "days": 10, "timezone": "Pacific/Apia"},
        ]
    )
    u = cal.next_unfrozen(at)
    assert u >= at and not cal.is_frozen(u)
    if u > at:
        assert cal.is_frozen(u - TICK)
