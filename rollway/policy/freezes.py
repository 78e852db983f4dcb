"""Freeze periods: explicit date ranges, recurring rules, and incident freezes.

Kinds (the `kind` field selects one):

* `dates` - an explicit range. Plain dates are whole local days, both ends inclusive
  (`start: 2026-12-21, end: 2027-01-04` freezes 21 Dec 00:00 to 5 Jan 00:00 local). Datetimes
  are exact instants, end exclusive; naive ones are read in `timezone`.
* `last-week-of-quarter` - the last `days` (default 7) calendar days of March, June, September
  and December in `timezone`: 25-31 Mar, 24-30 Jun, 24-30 Sep, 25-31 Dec, from local midnight
  of the first day to local midnight of the 1st of the next month. Calendar quarters, not fiscal.
* `before-launch` - `lead` (whole days, e.g. `2w`, `14d`) of local calendar days before
  `launch_date`; with `include_launch_day` (default true) the launch day itself is frozen too.
* `incident` - frozen while an incident of one of `severities` is active. Time cannot lift it,
  so `next_unfrozen` ignores it; the caller passes the active severities to `active_freezes`.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    RootModel,
    Tag,
    field_validator,
    model_validator,
)

from rollway.durations import Duration, format_duration
from rollway.policy._common import (
    DASH,
    SEARCH_HORIZON_STEPS,
    Severity,
    TimeZoneName,
    as_utc,
    fmt_local,
    local_instant,
    normalize_severity,
    zone,
)

__all__ = [
    "DateRangeFreeze",
    "Freeze",
    "FreezeCalendar",
    "FreezeInfo",
    "IncidentFreeze",
    "LaunchFreeze",
    "QuarterEndFreeze",
]

FreezeKind = Literal["dates", "last-week-of-quarter", "before-launch", "incident"]
_QUARTER_END_MONTHS = {3: 1, 6: 2, 9: 3, 12: 4}


class FreezeInfo(BaseModel):
    """One active freeze occurrence. Instants are UTC; `ends_at` is None for incident freezes."""

    model_config = ConfigDict(frozen=True)

    kind: FreezeKind
    reason: str
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    timezone: str | None = None

    def describe(self) -> str:
        """`'frozen: last week of Q4 2026 until Fri 2027-01-01 00:00 EST'`."""
        if self.ends_at is None:
            return f"frozen: {self.reason}"
        return f"frozen: {self.reason} until {fmt_local(self.ends_at, self.timezone or 'UTC')}"


class _FreezeBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DateRangeFreeze(_FreezeBase):
    """An explicit freeze: dates are whole days (inclusive), datetimes exact (end exclusive)."""

    kind: Literal["dates"] = "dates"
    start: date | datetime
    end: date | datetime
    reason: str = Field(min_length=1)
    timezone: TimeZoneName

    def _instants(self) -> tuple[datetime, datetime]:
        tz = zone(self.timezone)

        def instant(v: date | datetime, *, is_end: bool) -> datetime:
            if isinstance(v, datetime):
                return as_utc(v if v.tzinfo is not None else v.replace(tzinfo=tz), "freeze time")
            return local_instant(v + timedelta(days=1) if is_end else v, 0, tz)

        return instant(self.start, is_end=False), instant(self.end, is_end=True)

    @model_validator(mode="after")
    def _check_order(self) -> DateRangeFreeze:
        s, e = self._instants()
        if e <= s:
            raise ValueError(
                f"freeze '{self.reason}': end {self.end} is not after start {self.start}; "
                "swap them or fix the dates (date ends are inclusive)"
            )
        return self

    def occurrence_at(self, at: datetime) -> FreezeInfo | None:
        """The freeze if it covers `at`, else None."""
        at = as_utc(at)
        s, e = self._instants()
        if s <= at < e:
            return FreezeInfo(
                kind="dates", reason=self.reason, starts_at=s, ends_at=e, timezone=self.timezone
            )
        return None


class QuarterEndFreeze(_FreezeBase):
    """The last `days` calendar days of each calendar quarter, in `timezone`."""

    kind: Literal["last-week-of-quarter"]
    days: int = Field(default=7, ge=1, le=28)
    timezone: TimeZoneName
    reason: str | None = None

    def occurrence_at(self, at: datetime) -> FreezeInfo | None:
        """The quarter-end freeze covering `at`, else None."""
        at = as_utc(at)
        tz = zone(self.timezone)
        local = at.astimezone(tz)
        q = _QUARTER_END_MONTHS.get(local.month)
        if q is None:
            return None
        last = calendar.monthrange(local.year, local.month)[1]
        first_day = last - self.days + 1
        if local.day < first_day:
            return None
        starts = local_instant(date(local.year, local.month, first_day), 0, tz)
        ends = local_instant(date(local.year, local.month, last), 1440, tz)
        month = calendar.month_abbr[local.month]
        default = (
            f"last {'week' if self.days == 7 else f'{self.days} days'} of Q{q} {local.year} "
            f"({month} {first_day}{DASH}{last}, {self.timezone})"
        )
        return FreezeInfo(
            kind="last-week-of-quarter",
            reason=self.reason or default,
            starts_at=starts,
            ends_at=ends,
            timezone=self.timezone,
        )


class LaunchFreeze(_FreezeBase):
    """`lead` whole days before `launch_date` (and the launch day itself by default)."""

    kind: Literal["before-launch"]
    launch: str = Field(min_length=1, description="Name of the launch, shown in reasons.")
    launch_date: date
    lead: Duration
    include_launch_day: bool = True
    timezone: TimeZoneName
    reason: str | None = None

    @field_validator("lead")
    @classmethod
    def _whole_days(cls, v: timedelta) -> timedelta:
        if v <= timedelta(0) or v % timedelta(days=1):
            raise ValueError(
                f"lead {format_duration(v)} must be a positive whole number of days, "
                "e.g. '14d' or '2w'"
            )
        return v

    def occurrence_at(self, at: datetime) -> FreezeInfo | None:
        """The launch freeze if it covers `at`, else None."""
        at = as_utc(at)
        tz = zone(self.timezone)
        first = self.launch_date - self.lead
        last = self.launch_date if self.include_launch_day else self.launch_date - timedelta(1)
        starts, ends = local_instant(first, 0, tz), local_instant(last, 1440, tz)
        if not starts <= at < ends:
            return None
        default = (
            f"{self.lead.days} days before launch '{self.launch}' on {self.launch_date.isoformat()}"
        )
        return FreezeInfo(
            kind="before-launch",
            reason=self.reason or default,
            starts_at=starts,
            ends_at=ends,
            timezone=self.timezone,
        )


class IncidentFreeze(_FreezeBase):
    """Frozen while an incident of one of `severities` is active (caller-supplied)."""

    kind: Literal["incident"]
    severities: list[Severity] = Field(min_length=1)
    reason: str | None = None

    def occurrence_for(self, active_severities: set[str]) -> FreezeInfo | None:
        """The freeze if any of `active_severities` (normalised) matches, else None."""
        hit = sorted(set(self.severities) & active_severities)
        if not hit:
            return None
        return FreezeInfo(
            kind="incident",
            reason=self.reason or f"active {'/'.join(hit)} incident; no deploys until resolved",
        )


_KINDS = ("dates", "last-week-of-quarter", "before-launch", "incident")


def _freeze_kind(v: Any) -> str | None:
    if isinstance(v, dict):
        kind = v.get("kind", "dates" if "start" in v and "end" in v else None)
        return kind if kind in _KINDS else None
    kind = getattr(v, "kind", None)
    return kind if kind in _KINDS else None


Freeze = Annotated[
    Annotated[DateRangeFreeze, Tag("dates")]
    | Annotated[QuarterEndFreeze, Tag("last-week-of-quarter")]
    | Annotated[LaunchFreeze, Tag("before-launch")]
    | Annotated[IncidentFreeze, Tag("incident")],
    Discriminator(
        _freeze_kind,
        custom_error_type="freeze_kind",
        custom_error_message=(
            "each freeze needs `kind`: one of 'dates' (start/end/reason/timezone), "
            "'last-week-of-quarter', 'before-launch' or 'incident'"
        ),
    ),
]
"""One freeze entry; `kind` selects the model (`dates` may be omitted for a plain range)."""


TimeFreeze = DateRangeFreeze | QuarterEndFreeze | LaunchFreeze


class FreezeCalendar(RootModel[list[Freeze]]):
    """All freezes of an environment."""

    root: list[Freeze] = []

    def _time_freezes(self) -> list[TimeFreeze]:
        return [f for f in self.root if not isinstance(f, IncidentFreeze)]

    def time_freezes_at(self, at: datetime) -> list[FreezeInfo]:
        """Time-based freezes covering `at`."""
        at = as_utc(at)
        return [o for f in self._time_freezes() if (o := f.occurrence_at(at)) is not None]

    def incident_freezes(
        self, active_incident_severities: Iterable[str | int] = ()
    ) -> list[FreezeInfo]:
        """Incident freezes triggered by the given active severities."""
        sevs = {normalize_severity(s) for s in active_incident_severities}
        return [
            o
            for f in self.root
            if isinstance(f, IncidentFreeze) and (o := f.occurrence_for(sevs)) is not None
        ]

    def active_freezes(
        self, at: datetime, *, active_incident_severities: Iterable[str | int] = ()
    ) -> list[FreezeInfo]:
        """Every freeze in force at `at`: time-based ones, then incident ones."""
        return self.time_freezes_at(at) + self.incident_freezes(active_incident_severities)

    def is_frozen(self, at: datetime) -> bool:
        """True if a time-based freeze covers `at`."""
        return bool(self.time_freezes_at(at))

    def next_unfrozen(self, at: datetime) -> datetime:
        """Earliest instant >= `at` (UTC) not covered by any time-based freeze.

        Back-to-back and overlapping freezes are followed through. Incident freezes are
        ignored: time alone does not lift them.
        """
        t = as_utc(at)
        for _ in range(SEARCH_HORIZON_STEPS):
            active = self.time_freezes_at(t)
            if not active:
                return t
            t = max(o.ends_at for o in active if o.ends_at is not None)
        raise ValueError("freezes chain for too long to find an unfrozen instant")
