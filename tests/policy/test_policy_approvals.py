"""Approval checks, progress, directory parsing and timers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from rollway.policy import (
    ApprovalPolicy,
    ApprovalRequirement,
    GroupDirectory,
    approval_deadline,
    approval_progress,
    check_approval,
    next_reminder,
)

TWO_RM = ApprovalPolicy(required=2, groups=["release-managers"])
VP = [ApprovalRequirement(group="vp-engineering", count=1, reason="Friday deploy")]


def approve(
    directory: GroupDirectory,
    by: str,
    already: list[str],
    *,
    policy: ApprovalPolicy = TWO_RM,
    author: str | None = "erin",
    awaiting: bool = True,
    extra: list[ApprovalRequirement] | None = None,
) -> tuple[bool, str]:
    c = check_approval(
        policy,
        directory,
        by=by,
        author=author,
        already_approved_by=already,
        kind="approve",
        awaiting=awaiting,
        extra_requirements=extra or [],
    )
    return c.accepted, c.reason


def test_self_approval_refused_case_insensitively(directory: GroupDirectory) -> None:
    ok, why = approve(directory, "Erin", [])
    assert not ok and "author" in why and "allow_author" in why
    allowed = ApprovalPolicy(required=2, groups=["release-managers"], allow_author=True)
    assert approve(directory, "erin", [], policy=allowed)[0]


def test_approver_outside_groups_refused(directory: GroupDirectory) -> None:
    ok, why = approve(directory, "zed", [])
    assert not ok and "not a member" in why and "release-managers" in why
    ok, _ = approve(directory, "carol", [])  # a VP is not a release manager
    assert not ok


def test_duplicate_approval_refused(directory: GroupDirectory) -> None:
    ok, why = approve(directory, "alice", ["alice"])
    assert not ok and "duplicate" in why
    p = approval_progress(TWO_RM, directory, approved_by=["alice", "alice"], author="erin")
    assert p.counted == ["alice"] and not p.satisfied


def test_two_needed_and_third_is_a_noop(directory: GroupDirectory) -> None:
    assert approve(directory, "alice", [])[0]
    ok, why = approve(directory, "bob", ["alice"])
    assert ok and "complete" in why
    ok, why = approve(directory, "dave", ["alice", "bob"])
    assert not ok and "already in" in why
    p = approval_progress(TWO_RM, directory, approved_by=["alice", "bob", "dave"], author="erin")
    assert p.satisfied and p.counted == ["alice", "bob"] and "dave" in p.ignored


def test_nothing_awaiting_refused(directory: GroupDirectory) -> None:
    ok, why = approve(directory, "alice", [], awaiting=False)
    assert not ok and "nothing is awaiting" in why


def test_extra_requirements_need_distinct_people(directory: GroupDirectory) -> None:
    # dave is both RM and VP: he counts once; the matching puts him where he is scarce
    p = approval_progress(
        TWO_RM, directory, approved_by=["dave", "alice"], author="erin", extra_requirements=VP
    )
    assert not p.satisfied
    assert p.still_needed == ["1 more from release-managers"]
    p = approval_progress(
        TWO_RM,
        directory,
        approved_by=["alice", "bob", "dave"],
        author="erin",
        extra_requirements=VP,
    )
    assert p.satisfied and p.requirements[1].approved_by == ["dave"]
    assert "approved" in p.summary


def test_reject_rules(directory: GroupDirectory) -> None:
    def reject(by: str) -> bool:
        return check_approval(
            TWO_RM,
            directory,
            by=by,
            author="erin",
            already_approved_by=[],
            kind="reject",
            awaiting=True,
            extra_requirements=VP,
        ).accepted

    assert reject("alice") and reject("carol") and reject("erin")
    assert not reject("zed")


def test_no_approvals_required(directory: GroupDirectory) -> None:
    none = ApprovalPolicy(required=0)
    ok, why = approve(directory, "alice", [], policy=none)
    assert not ok and "requires no approvals" in why
    assert approval_progress(none, directory, approved_by=[], author=None).satisfied


def test_no_groups_means_anyone_but_the_author(directory: GroupDirectory) -> None:
    anyone = ApprovalPolicy(required=2)
    ok, why = approve(directory, "stranger", [], policy=anyone)
    assert ok, why
    ok, why = approve(directory, "alice", [], policy=anyone, author="alice")
    assert not ok and "author" in why
    progress = approval_progress(anyone, directory, approved_by=["x", "y"], author=None)
    assert progress.satisfied and "from anyone" in progress.summary


def test_policy_validation_messages() -> None:
    with pytest.raises(ValidationError, match="on_timeout: escalate"):
        ApprovalPolicy.model_validate(
            {"required": 1, "groups": ["rm"], "escalate_to": ["managers"]}
        )
    with pytest.raises(ValidationError, match="not a duration"):
        ApprovalPolicy.model_validate({"required": 1, "groups": ["rm"], "timeout": "soon"})


def test_directory_from_yaml() -> None:
    d = GroupDirectory.from_yaml_text("groups:\n  sre: [ann, ' Ben ']\n  empty:\n")
    assert d.members("sre") == ["ann", "Ben"] and d.members("empty") == []
    assert d.is_member("BEN", "sre") and d.groups_of("ann") == ["sre"]
    assert d.missing_groups(["sre", "vp"]) == ["vp"]
    with pytest.raises(ValueError, match="top-level `groups:`"):
        GroupDirectory.from_yaml_text("sre: [ann]")
    with pytest.raises(ValueError, match="not valid YAML"):
        GroupDirectory.from_yaml_text("groups: [")
    with pytest.raises(ValidationError, match=r"e\.g\. sre: \[alice, bob\]"):
        GroupDirectory.from_yaml_text("groups:\n  sre: ann\n")


def test_deadline_and_reminders() -> None:
    t0 = datetime(2026, 11, 19, 12, tzinfo=UTC)
    rej = ApprovalPolicy.model_validate(
        {"required": 1, "groups": ["rm"], "timeout": "24h", "remind_every": "4h"}
    )
    assert approval_deadline(rej, t0) == t0 + timedelta(hours=24)
    assert next_reminder(rej, t0, t0) == t0 + timedelta(hours=4)
    assert next_reminder(rej, t0, t0 + timedelta(hours=4)) == t0 + timedelta(hours=8)
    assert next_reminder(rej, t0, t0 + timedelta(hours=21)) is None  # 24h is the deadline
    esc = rej.model_copy(update={"on_timeout": "escalate"})
    assert next_reminder(esc, t0, t0 + timedelta(hours=25)) == t0 + timedelta(hours=28)
    assert approval_deadline(ApprovalPolicy(required=0), t0) is None
