"""Human duration strings (`30s`, `15m`, `1h30m`, `2d`) to `timedelta` and back."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, PlainSerializer

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str | int | float | timedelta) -> timedelta:
    """Parse `1h30m`, `15m`, `30s`, `250ms`; a bare number means seconds."""
    if isinstance(text, timedelta):
        return text
    if isinstance(text, int | float):
        if text < 0:
            raise ValueError("must not be negative")
        return timedelta(seconds=text)  # may raise OverflowError: callers bound it
    s = str(text).strip().lower().replace(" ", "")
    if not s:
        raise ValueError("empty duration; write e.g. '30s', '15m' or '1h'")
    if re.fullmatch(r"\d+(\.\d+)?", s):
        return timedelta(seconds=float(s))
    pos, total = 0, 0.0
    for m in _PART.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(s):
        raise ValueError(
            f"'{text}' is not a duration; write a number with a unit "
            "(ms, s, m, h, d, w), e.g. '30s', '15m', '1h30m'"
        )
    return timedelta(seconds=total)


def format_duration(td: timedelta) -> str:
    """Render a `timedelta` the way users write it: `1h30m`, `45s`, `250ms`."""
    total_ms = round(td.total_seconds() * 1000)
    if total_ms == 0:
        return "0s"
    sign = "-" if total_ms < 0 else ""
    total_ms = abs(total_ms)
    secs, ms = divmod(total_ms, 1000)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        n, secs = divmod(secs, size)
        if n:
            parts.append(f"{n}{unit}")
    if ms:
        parts.append(f"{ms}ms")
    return sign + "".join(parts)


MAX_DURATION = timedelta(days=365)
"""No duration in a pipeline or a decision may be longer (timers past it overflow dates)."""


def _validate(v: Any) -> timedelta:
    try:
        td = parse_duration(v)
    except OverflowError:
        raise ValueError(
            f"'{v}' is far too long: at most {format_duration(MAX_DURATION)}"
        ) from None
    if td > MAX_DURATION:
        raise ValueError(
            f"'{format_duration(td)}' is too long: at most {format_duration(MAX_DURATION)}"
        )
    return td


def at_most(limit: timedelta, field: str) -> Any:
    """A validator bounding one duration field more tightly than `MAX_DURATION`."""

    def check(td: timedelta) -> timedelta:
        if td > limit:
            raise ValueError(
                f"{field} '{format_duration(td)}' is too long: at most {format_duration(limit)}"
            )
        return td

    return AfterValidator(check)


Duration = Annotated[
    timedelta,
    BeforeValidator(_validate),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]
"""A pydantic field type: accepts `'15m'`, seconds, or a timedelta; dumps as `'15m'`."""
