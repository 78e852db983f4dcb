"""Durations, names and texts are bounded at the door, with an error naming the field."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from pydantic import ValidationError

from rollway.models import ActionInput, ApprovalInput
from rollway.release_control import FreezeInput, OverrideInput
from rollway.spec_loader import SpecError, parse_pipeline


def spec(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "service": "demo",
        "run": {"command": ["python", "app.py"]},
        "build": {"command": ["./build.sh"]},
        "canary": {"steps": [{"weight": 5, "soak": "15m"}]},
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize(
    ("overrides", "path", "words"),
    [
        (
            {"canary": {"steps": [{"weight": 5, "soak": "9999999d"}]}},
            "canary.steps[0].soak",
            "too long",
        ),
        ({"canary": {"steps": [{"weight": 5, "soak": "31d"}]}}, "canary.steps[0].soak", "30d"),
        ({"canary": {"steps": [{"weight": 5, "soak": "99999999999d"}]}}, "soak", "far too long"),
        ({"build": {"command": ["./b"], "timeout": "999999999d"}}, "build", "too long"),
        ({"build": {"command": ["./b"], "timeout": "25h"}}, "build", "build.timeout '1d1h'"),
    ],
)
def test_overlong_durations_are_refused_with_the_field(
    overrides: dict[str, Any], path: str, words: str
) -> None:
    with pytest.raises(SpecError) as e:
        parse_pipeline(spec(**overrides))
    text = str(e.value)
    assert path in text and words in text, text


def test_a_thirty_day_soak_is_allowed() -> None:
    p = parse_pipeline(spec(canary={"steps": [{"weight": 5, "soak": "30d"}]}))
    assert p.canary.steps[0].soak.days == 30


def test_a_freeze_until_must_carry_a_time_zone() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        FreezeInput(reason="black friday", until=datetime(2026, 12, 25))
    ok = FreezeInput(reason="black friday", until="2026-12-25T00:00:00+01:00")
    assert ok.until is not None and ok.until.utcoffset() is not None


@pytest.mark.parametrize(
    "make",
    [
        lambda: ApprovalInput(by="alice", comment="x" * 200_000),
        lambda: ApprovalInput(by="a" * 129),
        lambda: ApprovalInput(by="   "),
        lambda: ActionInput(by="bob", reason="x" * 2001),
        lambda: OverrideInput(by="ivy", kind="rollback", reason="x" * 5000),
    ],
)
def test_oversized_decisions_are_refused(make: Any) -> None:
    with pytest.raises(ValidationError):
        make()
