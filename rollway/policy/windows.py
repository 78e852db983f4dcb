"""Deploy windows: weekly local-time intervals, evaluated across DST changes.

A window's days name the local day on which it *opens*. If `end` <= `start` the window runs
overnight into the next day (`fri 22:00-02:00` closes Saturday 02:00); `end: '24:00'` means
midnight at the end of the day. Local wall times are turned into instants per day, so a
09:00 America/New_York window opens at 09:00 local on both sides of a DST change (14:00 UTC
in winter, 13:00 UTC in summer).

DST edge cases (see `local_instant`): a nonexistent local time (spring-forward gap) is shifted
forward by the gap (02:30 -> 03:30); an ambiguous one (fall-back) means its first occurrence.
If that makes a day's interval empty (e.g. `02:15-03:00` on a spring-forward day whose gap is
02:00-03:00) the window does not open that day.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, RootModel, model_validator

from rollway.policy._common import (
    DASH,
    SEARCH_HORIZON_STEPS,
    EndTime,
    StartTime,
    TimeZoneName,
    Weekdays,
    as_utc,
    clock_minutes,
    fmt_days,
    local_date,
    local_instant,
    zone,
)

__all__ = ["DeployWindow", "Schedule"]


class DeployWindow(BaseModel):
    """One weekly window, e.g. Mon-Thu 09:00-16:00 America/New_York."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    days: Weekdays
    start: StartTime
    end: EndTime
    timezone: TimeZoneName

    @model_validator(mode="after")
    def _check_span(self) -> DeployWindow:
        full_day = self.start == "00:00" and self.end == "24:00"
        if not full_day and clock_minutes(self.end) % 1440 == clock_minutes(self.start):
            raise ValueError(
                f"window start and end are both {self.start}, so it is empty; for a whole day "
                "write start: '00:00', end: '24:00'"
            )
        return self

    # -- geometry -----------------------------------------------------------------------
    def _span(self) -> tuple[int, int]:
        s, e = clock_minutes(self.start), clock_minutes(self.end)
        if e <= s:
            e += 1440  # overnight
        return s, e

    def _intervals_from(self, at: datetime) -> list[tuple[datetime, datetime]]:
        """Non-empty UTC intervals whose opening day is from the day before `at` on."""
        tz = zone(self.timezone)
        s, e = self._span()
        first = local_date(at, tz) - timedelta(days=1)
        out: list[tuple[datetime, datetime]] = []
        for i in range(17):
            d = first + timedelta(days=i)
            if d.weekday() not in self.days:
                continue
            opens, closes = local_instant(d, s, tz), local_instant(d, e, tz)
            if closes > opens:
                out.append((opens, closes))
        return out

    def _current_or_next(self, at: datetime) -> tuple[datetime, datetime] | None:
        for opens, closes in self._intervals_from(at):
            if closes > at:
                return opens, closes
        return None  # only possible if every candidate day was emptied by DST

    # -- queries ------------------------------------------------------------------------
    def is_open(self, at: datetime) -> bool:
        """True if the window is open at instant `at` (start inclusive, end exclusive)."""
        at = as_utc(at)
        iv = self._current_or_next(at)
        return iv is not None and iv[0] <= at

    def next_open(self, at: datetime) -> datetime | None:
        """Earliest instant >= `at` at which the window is open (`at` itself if open)."""
        at = as_utc(at)
        iv = self._current_or_next(at)
        return None if iv is None else max(iv[0], at)

    def closes_at(self, at: datetime) -> datetime | None:
        """When the interval open at `at` closes; None if the window is closed at `at`."""
        at = as_utc(at)
        iv = self._current_or_next(at)
        return iv[1] if iv is not None and iv[0] <= at else None

    def describe(self) -> str:
        """`'Mon-Thu 09:00-16:00 America/New_York'`."""
        return f"{fmt_days(self.days)} {self.start}{DASH}{self.end} {self.timezone}"


class Schedule(RootModel[list[DeployWindow]]):
    """A union of deploy windows. An empty schedule means "no time restriction"."""

    root: list[DeployWindow] = []

    @property
    def windows(self) -> list[DeployWindow]:
        """The windows, in declaration order."""
        return self.root

    @property
    def unrestricted(self) -> bool:
        """True if no windows are declared (always open)."""
        return not self.root

    def is_open(self, at: datetime) -> bool:
        """True if any window is open at `at` (always True for an empty schedule)."""
        at = as_utc(at)
        return self.unrestricted or any(w.is_open(at) for w in self.root)

    def next_open(self, at: datetime) -> datetime:
        """Earliest instant >= `at` (UTC) at which some window is open; `at` if open now."""
        at = as_utc(at)
        if self.unrestricted:
            return at
        cands = [t for w in self.root if (t := w.next_open(at)) is not None]
        if not cands:  # pragma: no cover - needs every day emptied by DST for 2 weeks
            raise ValueError("schedule never opens; check its windows")
        return min(cands)

    def next_open_window(self, at: datetime) -> DeployWindow | None:
        """The window that opens (or is open) first at/after `at`; None if unrestricted."""
        at = as_utc(at)
        best: tuple[datetime, DeployWindow] | None = None
        for w in self.root:
            t = w.next_open(at)
            if t is not None and (best is None or t < best[0]):
                best = (t, w)
        return None if best is None else best[1]

    def closes_at(self, at: datetime) -> datetime | None:
        """When the schedule next closes, if open at `at`, following back-to-back windows.

        None if closed at `at`, or if it never closes (unrestricted, or open around the clock).
        """
        at = as_utc(at)
        if self.unrestricted or not self.is_open(at):
            return None
        t = at
        for _ in range(SEARCH_HORIZON_STEPS):
            ends = [c for w in self.root if (c := w.closes_at(t)) is not None]
            t = max(ends)
            if not self.is_open(t):
                return t
        return None

    def describe(self) -> str:
        """Human summary: `'Mon-Thu 09:00-16:00 America/New_York'` (windows joined by 'or')."""
        if self.unrestricted:
            return "any time"
        return " or ".join(w.describe() for w in self.root)
