"""Shared field types and time helpers for the release-policy models.

Everything here is pure: no clock reads, no I/O beyond zoneinfo's (deterministic,
tzdata-pinned) zone lookups.
"""

from __future__ import annotations

import importlib
import re
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema


def _real_zoneinfo_class() -> type[ZoneInfo]:
    """The class behind `zoneinfo.ZoneInfo`, fetched from its C module `_zoneinfo`.

    Inside Temporal's workflow sandbox `zoneinfo.ZoneInfo` is a restricted proxy whose
    instances `datetime` rejects as tzinfo ("not of a tzinfo subclass"); `_zoneinfo` is not
    restricted, so this yields real ZoneInfo objects both in and outside workflows.
    """
    try:
        cls: type[ZoneInfo] = importlib.import_module("_zoneinfo").ZoneInfo
    except (ImportError, AttributeError):  # pragma: no cover - no C accelerator
        cls = ZoneInfo
    return cls


_RealZoneInfo = _real_zoneinfo_class()


DASH = "\u2013"  # en dash, used in human-readable ranges ("Mon\u2013Thu")
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_ALIASES: dict[str, int] = {}
for _i, _full in enumerate(
    ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
):
    _DAY_ALIASES[_full] = _i
    _DAY_ALIASES[_full[:3]] = _i
_DAY_ALIASES.update({"tues": 1, "weds": 2, "thur": 3, "thurs": 3})
_DAY_GROUPS = {
    "weekdays": (0, 1, 2, 3, 4),
    "weekends": (5, 6),
    "daily": (0, 1, 2, 3, 4, 5, 6),
    "all": (0, 1, 2, 3, 4, 5, 6),
}
_DAYS_HINT = "write e.g. 'mon-thu', 'mon,wed,fri', ['mon', 'tue'] or 'weekdays'"

# Bound on how far ahead the search helpers look before concluding "never".
SEARCH_HORIZON_STEPS = 400


def _one_day(token: str) -> int:
    key = token.strip().lower()
    if key not in _DAY_ALIASES:
        raise ValueError(f"'{token}' is not a day of the week; {_DAYS_HINT}")
    return _DAY_ALIASES[key]


def _parse_days(value: Any) -> tuple[int, ...]:
    """`'mon-thu'`, `'mon,wed'`, `['mon', 'tue']`, `'weekdays'` -> sorted weekday numbers."""
    if isinstance(value, str):
        tokens = [t for t in re.split(r"[,\s]+", value.strip()) if t]
    elif isinstance(value, list | tuple | set | frozenset):
        tokens = []
        for item in value:
            if isinstance(item, int) and not isinstance(item, bool) and 0 <= item <= 6:
                tokens.append(DAY_NAMES[item])
            elif isinstance(item, str):
                tokens.extend(t for t in re.split(r"[,\s]+", item.strip()) if t)
            else:
                raise ValueError(f"{item!r} is not a day of the week; {_DAYS_HINT}")
    else:
        raise ValueError(f"{value!r} is not a list of days; {_DAYS_HINT}")
    if not tokens:
        raise ValueError(f"no days given; {_DAYS_HINT}")
    days: set[int] = set()
    for tok in tokens:
        low = tok.lower()
        if low in _DAY_GROUPS:
            days.update(_DAY_GROUPS[low])
        elif "-" in low or DASH in low:
            a, b = re.split("[-" + DASH + "]", low, maxsplit=1)
            first, last = _one_day(a), _one_day(b)
            i = first
            while True:  # ranges may wrap: 'fri-mon' = fri, sat, sun, mon
                days.add(i)
                if i == last:
                    break
                i = (i + 1) % 7
        else:
            days.add(_one_day(low))
    return tuple(sorted(days))


Weekdays = Annotated[
    tuple[int, ...],
    BeforeValidator(_parse_days),
    PlainSerializer(lambda ds: [DAY_NAMES[d] for d in ds], return_type=list[str]),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "examples": ["mon-thu", "mon,wed,fri", "weekdays"]},
                {"type": "array", "items": {"type": "string"}, "examples": [["mon", "tue"]]},
            ]
        }
    ),
]
"""Days of the week as numbers (Mon=0); accepts `'mon-thu'`, lists, `'weekdays'`."""

_HHMM = re.compile(r"(\d{1,2}):(\d{2})")


def _parse_clock(value: Any, *, allow_24: bool) -> str:
    if isinstance(value, time):
        if value.second or value.microsecond:
            raise ValueError("times are minutes-precise; write e.g. '09:00'")
        return f"{value.hour:02d}:{value.minute:02d}"
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads unquoted 16:00 as the base-60 integer 960.
        h, m = divmod(value, 60)
        hint = f'; did you mean "{h:02d}:{m:02d}"?' if 0 <= h <= 24 and value >= 0 else ""
        raise ValueError(
            f"got the number {value}; write times as quoted 'HH:MM' strings "
            f"(YAML reads unquoted 16:00 as the number 960){hint}"
        )
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a time of day; write e.g. '09:00'")
    found = _HHMM.fullmatch(value.strip())
    if not found:
        raise ValueError(f"'{value}' is not a time of day; write 24-hour 'HH:MM', e.g. '09:00'")
    h, mi = int(found.group(1)), int(found.group(2))
    if mi > 59 or h > 24 or (h == 24 and mi != 0) or (h == 24 and not allow_24):
        limit = "'00:00'..'24:00'" if allow_24 else "'00:00'..'23:59'"
        raise ValueError(f"'{value}' is out of range; use {limit}")
    return f"{h:02d}:{mi:02d}"


StartTime = Annotated[
    str,
    BeforeValidator(lambda v: _parse_clock(v, allow_24=False)),
    WithJsonSchema({"type": "string", "pattern": r"^\d{1,2}:\d{2}$", "examples": ["09:00"]}),
]
"""Local time of day `'HH:MM'` (00:00-23:59)."""
EndTime = Annotated[
    str,
    BeforeValidator(lambda v: _parse_clock(v, allow_24=True)),
    WithJsonSchema({"type": "string", "pattern": r"^\d{1,2}:\d{2}$", "examples": ["16:00"]}),
]
"""Local time of day `'HH:MM'`; `'24:00'` means the end of the day."""


def clock_minutes(hhmm: str) -> int:
    """`'09:30'` -> 570."""
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    """Cached `ZoneInfo` lookup (sandbox-safe, see `_RealZoneInfo`)."""
    tz: ZoneInfo = _RealZoneInfo(name)
    return tz


def _parse_tz(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("time zone is required; use an IANA name like 'America/New_York'")
    name = value.strip()
    if len(name) > 64:
        raise ValueError("time zone name too long; use an IANA name like 'America/New_York'")
    try:
        zone(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: 'America' is a folder
        raise ValueError(
            f"unknown time zone '{name}'; use an IANA name like 'America/New_York' or 'UTC'"
        ) from exc
    return name


TimeZoneName = Annotated[str, BeforeValidator(_parse_tz)]
"""An IANA time-zone name, checked against the installed tzdata."""


def _parse_severity(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return f"SEV-{value}"
    if isinstance(value, str):
        m = re.fullmatch(r"(?:sev)?[-_ ]?(\d+)", value.strip().lower())
        if m and int(m.group(1)) > 0:
            return f"SEV-{int(m.group(1))}"
    raise ValueError(f"{value!r} is not an incident severity; write e.g. 'SEV-1' or 'SEV-2'")


def normalize_severity(value: str | int) -> str:
    """`'sev1'`, `'SEV-1'`, `1` -> `'SEV-1'`."""
    return _parse_severity(value)


Severity = Annotated[str, BeforeValidator(_parse_severity)]
"""Incident severity, normalised to `'SEV-<n>'` (accepts `'sev1'`, `'SEV-1'`, `1`)."""


def as_utc(at: datetime, name: str = "at") -> datetime:
    """Check `at` is timezone-aware and convert it to UTC."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"`{name}` must be a timezone-aware datetime (UTC), got naive {at}")
    return at.astimezone(UTC)


def local_instant(day: date, minutes: int, tz: ZoneInfo) -> datetime:
    """The UTC instant of local wall time `day` + `minutes` (may be 1440 = next midnight).

    Nonexistent local times (spring-forward gap) use the pre-transition offset, so they land
    after the gap, shifted forward by its length (02:30 on a 1h-gap day -> 03:30).
    Ambiguous local times (fall-back overlap) resolve to their first occurrence (fold=0).
    """
    extra_days, minutes = divmod(minutes, 1440)
    d = day + timedelta(days=extra_days)
    wall = datetime(d.year, d.month, d.day, minutes // 60, minutes % 60, tzinfo=tz, fold=0)
    return wall.astimezone(UTC)


def local_date(at: datetime, tz: ZoneInfo) -> date:
    """Local calendar date of instant `at` in `tz`."""
    return at.astimezone(tz).date()


def fmt_local(at: datetime, tz_name: str) -> str:
    """`'Mon 2026-11-23 09:00 EST'`."""
    return at.astimezone(zone(tz_name)).strftime("%a %Y-%m-%d %H:%M %Z")


def fmt_days(days: tuple[int, ...]) -> str:
    """(0, 1, 2, 3) -> 'Mon-Thu'; (0, 2, 4) -> 'Mon, Wed, Fri'."""
    if len(days) == 7:
        return "every day"
    runs: list[tuple[int, int]] = []
    for d in days:
        if runs and runs[-1][1] == d - 1:
            runs[-1] = (runs[-1][0], d)
        else:
            runs.append((d, d))
    parts = []
    for a, b in runs:
        name_a, name_b = DAY_NAMES[a].title(), DAY_NAMES[b].title()
        if a == b:
            parts.append(name_a)
        elif b == a + 1:
            parts.append(f"{name_a}, {name_b}")
        else:
            parts.append(f"{name_a}{DASH}{name_b}")
    return ", ".join(parts)
