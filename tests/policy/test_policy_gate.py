"""evaluate_gate on the seed 000 and seed 004 policies."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from rollway.policy import (
    ApprovalRequirement,
    GroupDirectory,
    ReleasePolicy,
    approval_progress,
    check_approval,
    evaluate_gate,
)

NY = ZoneInfo("America/New_York")


def ny(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=NY)


def test_inside_window_is_open_with_no_extras(seed000: ReleasePolicy) -> None:
    d = evaluate_gate(seed000, ny(2026, 11, 19, 10))
    assert d.open and d.path == "normal" and d.reasons == [] and d.wait_until is None
    assert d.extra_approvals == []


def test_thursday_1630_waits_until_monday_0900(seed000: ReleasePolicy) -> None:
    d = evaluate_gate(seed000, ny(2026, 11, 19, 16, 30))
    assert not d.open
    assert d.wait_until == datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
    assert d.wait_until == ny(2026, 11, 23, 9, 0)
    assert d.reasons == [
        "outside deploy window Mon\u2013Thu 09:00\u201316:00 America/New_York; "
        "next opens Mon 2026-11-23 09:00 EST"
    ]


def test_last_week_of_quarter_frozen_and_wait_until_is_after_it_in_a_window(
    seed000: ReleasePolicy,
) -> None:
    at = ny(2026, 3, 26, 10)  # Thursday, inside the window, inside Mar 25-31 freeze
    d = evaluate_gate(seed000, at)
    assert not d.open
    assert any("last week of Q1 2026" in r for r in d.reasons)
    assert d.wait_until is not None
    assert d.wait_until >= ny(2026, 4, 1)  # after the freeze
    assert seed000.windows.is_open(d.wait_until)
    assert not seed000.freezes.is_frozen(d.wait_until)
    assert d.wait_until == ny(2026, 4, 1, 9)  # Wed 09:00 EDT
    assert d.reasons[-1].endswith("Wed 2026-04-01 09:00 EDT")


def test_quarter_end_over_a_weekend_waits_for_monday_window(seed000: ReleasePolicy) -> None:
    # Q4 2026 freeze ends Fri 2027-01-01 00:00; the window next opens Mon 2027-01-04 09:00
    d = evaluate_gate(seed000, ny(2026, 12, 28, 10))
    assert not d.open and d.wait_until == ny(2027, 1, 4, 9)


def test_two_weeks_before_launch_is_frozen(seed000: ReleasePolicy) -> None:
    d = evaluate_gate(seed000, ny(2026, 6, 2, 10))  # Tuesday, in window, 13 days before
    assert not d.open
    assert any("Rollway 2.0" in r for r in d.reasons)
    assert d.wait_until == ny(2026, 6, 16, 9)  # Tue after launch day
    assert evaluate_gate(seed000, ny(2026, 5, 28, 10)).open  # before the freeze


def test_friday_1500_new_york_needs_vp_approval(seed004: ReleasePolicy) -> None:
    d = evaluate_gate(seed004, ny(2026, 11, 20, 15))
    assert d.open and d.path == "normal"
    assert d.extra_approvals == [
        ApprovalRequirement(group="vp-engineering", count=1, reason="Friday deploy")
    ]
    assert evaluate_gate(seed004, ny(2026, 11, 19, 15)).extra_approvals == []


def test_friday_vp_approval_must_come_from_vp_group(
    seed004: ReleasePolicy, directory: GroupDirectory
) -> None:
    d = evaluate_gate(seed004, ny(2026, 11, 20, 15))
    kw: dict[str, Any] = {
        "author": "erin",
        "kind": "approve",
        "awaiting": True,
        "extra_requirements": d.extra_approvals,
    }
    assert check_approval(seed004.approvals, directory, by="alice", already_approved_by=[], **kw)
    again = check_approval(
        seed004.approvals, directory, by="bob", already_approved_by=["alice"], **kw
    )
    assert not again.accepted and "vp-engineering" in again.reason
    vp = check_approval(
        seed004.approvals, directory, by="carol", already_approved_by=["alice"], **kw
    )
    assert vp.accepted and "complete" in vp.reason
    progress = approval_progress(
        seed004.approvals,
        directory,
        approved_by=["alice"],
        author="erin",
        extra_requirements=d.extra_approvals,
    )
    assert not progress.satisfied
    assert progress.still_needed == ["1 more from vp-engineering (Friday deploy)"]


def test_incident_blocks_and_time_does_not_open_it(seed004: ReleasePolicy) -> None:
    d = evaluate_gate(seed004, ny(2026, 11, 19, 15), active_incident_severities=["SEV-2"])
    assert not d.open and d.wait_until is None
    assert d.reasons == ["frozen: active SEV-2 incident; no deploys until resolved"]
    assert evaluate_gate(seed004, ny(2026, 11, 19, 15), active_incident_severities=[3]).open


def test_hotfix_with_team_lead_bypasses_window(
    seed004: ReleasePolicy, directory: GroupDirectory
) -> None:
    at = ny(2026, 11, 21, 3)  # Saturday 03:00, outside mon-fri
    assert not evaluate_gate(seed004, at).open
    d = evaluate_gate(seed004, at, hotfix=True)
    assert d.open and d.path == "hotfix"
    (req,) = d.extra_approvals
    assert (req.group, req.count) == ("team-lead", 1)
    # with the base approval and a team-lead's approval, the deploy is fully approved
    p = approval_progress(
        seed004.approvals,
        directory,
        approved_by=["alice", "tina"],
        author="erin",
        extra_requirements=d.extra_approvals,
    )
    assert p.satisfied
    refused = check_approval(
        seed004.approvals,
        directory,
        by="carol",
        author="erin",
        already_approved_by=["alice"],
        kind="approve",
        awaiting=True,
        extra_requirements=d.extra_approvals,
    )
    assert not refused.accepted  # a VP is not a team lead


def test_hotfix_on_friday_replaces_vp_with_team_lead(seed004: ReleasePolicy) -> None:
    d = evaluate_gate(seed004, ny(2026, 11, 20, 15), hotfix=True)
    assert d.open and d.path == "hotfix"
    assert [r.group for r in d.extra_approvals] == ["team-lead"]


def test_hotfix_inside_window_follows_normal_path(seed004: ReleasePolicy) -> None:
    d = evaluate_gate(seed004, ny(2026, 11, 19, 15), hotfix=True)
    assert d.open and d.path == "normal" and d.extra_approvals == []


def test_hotfix_does_not_bypass_freezes_by_default() -> None:
    policy = ReleasePolicy.model_validate(
        {
            "windows": [{"days": "mon-thu", "start": "09:00", "end": "16:00", "timezone": "UTC"}],
            "freezes": [{"kind": "last-week-of-quarter", "timezone": "UTC"}],
            "hotfix": {"group": "team-lead"},
        }
    )
    at = datetime(2026, 3, 28, 12, tzinfo=UTC)  # Saturday in the quarter-end freeze
    d = evaluate_gate(policy, at, hotfix=True)
    assert not d.open and d.path == "hotfix"
    assert "hotfixes do not bypass freezes" in d.reasons[0]
    assert d.wait_until == datetime(2026, 4, 1, tzinfo=UTC)  # freeze end; windows bypassed
    bypassing = ReleasePolicy.model_validate(
        {**policy.model_dump(), "hotfix": {"group": "team-lead", "bypasses_freezes": True}}
    )
    d2 = evaluate_gate(bypassing, at, hotfix=True)
    assert d2.open and "freezes" in d2.extra_approvals[0].reason


def test_hotfix_without_hotfix_path_is_a_normal_deploy(seed000: ReleasePolicy) -> None:
    d = evaluate_gate(seed000, ny(2026, 11, 21, 3), hotfix=True)
    assert not d.open and d.path == "normal" and "no hotfix path" in d.notes[0]


def test_emergency_with_sev1_ic_approval_passes_sunday_0300(seed000: ReleasePolicy) -> None:
    at = ny(2026, 11, 22, 3)  # Sunday 03:00
    assert not evaluate_gate(seed000, at).open
    d = evaluate_gate(seed000, at, emergency_approved=True, active_incident_severities=["SEV-1"])
    assert d.open and d.path == "emergency" and d.extra_approvals == []


def test_emergency_bypasses_freezes_in_seed000(seed000: ReleasePolicy) -> None:
    at = ny(2026, 3, 29, 3)  # Sunday 03:00 in the Q1 freeze
    d = evaluate_gate(seed000, at, emergency_approved=True, active_incident_severities=["sev1"])
    assert d.open and d.freezes and "bypasses active freezes" in d.notes[0]


def test_emergency_needs_an_active_sev1(seed000: ReleasePolicy) -> None:
    at = ny(2026, 11, 22, 3)
    for sevs in ([], ["SEV-2"]):
        d = evaluate_gate(seed000, at, emergency_approved=True, active_incident_severities=sevs)
        assert not d.open and d.path == "normal" and "ignored" in d.notes[0]
    no_path = evaluate_gate(
        ReleasePolicy.model_validate({"windows": [], "freezes": []}),
        at,
        emergency_approved=True,
        active_incident_severities=["SEV-1"],
    )
    assert no_path.path == "normal" and "no emergency path" in no_path.notes[0]


def test_emergency_overrides_incident_freeze(seed004: ReleasePolicy) -> None:
    policy = ReleasePolicy.model_validate(
        {**seed004.model_dump(), "emergency": {"severities": ["SEV-1"]}}
    )
    d = evaluate_gate(
        policy, ny(2026, 11, 21, 3), emergency_approved=True, active_incident_severities=["SEV-1"]
    )
    assert d.open and d.path == "emergency"


def test_bypass_opens_everything(seed004: ReleasePolicy) -> None:
    d = evaluate_gate(
        seed004, ny(2026, 11, 21, 3), bypass=True, active_incident_severities=["SEV-1"]
    )
    assert d.open and d.path == "bypass" and d.freezes


def test_reasons_empty_iff_open(seed000: ReleasePolicy) -> None:
    for day in range(1, 31):
        for hour in (3, 9, 15, 16, 22):
            d = evaluate_gate(seed000, ny(2026, 6, day, hour))
            assert d.open == (not d.reasons)
            assert (d.wait_until is None) == d.open


def test_release_policy_rejects_unknown_parts_and_reports_groups(
    seed004: ReleasePolicy, directory: GroupDirectory
) -> None:
    with pytest.raises(ValidationError, match="extra"):
        ReleasePolicy.model_validate({"window": []})
    assert seed004.referenced_groups() == {"release-managers", "vp-engineering", "team-lead"}
    assert directory.missing_groups(seed004.referenced_groups()) == []


def test_empty_policy_is_always_open() -> None:
    d = evaluate_gate(ReleasePolicy(), datetime(2026, 1, 1, tzinfo=UTC))
    assert d.open and d.extra_approvals == []


def test_policy_round_trips_through_json_and_has_a_schema(
    seed000: ReleasePolicy, seed004: ReleasePolicy
) -> None:
    for p in (seed000, seed004):
        assert ReleasePolicy.model_validate_json(p.model_dump_json()) == p
        assert ReleasePolicy.model_validate(p.model_dump(mode="json")) == p
    dumped = seed000.model_dump(mode="json")
    assert dumped["windows"][0]["days"] == ["mon", "tue", "wed", "thu"]
    assert dumped["freezes"][1]["lead"] == "14d"
    schema = ReleasePolicy.model_json_schema()
    assert set(schema["properties"]) == {
        "windows",
        "freezes",
        "approvals",
        "extra_approvals",
        "hotfix",
        "emergency",
        "unsigned_decisions",
    }
