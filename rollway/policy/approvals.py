"""Manual approvals: who may approve, how many are needed, and what is still missing.

Counting rule: each person counts toward at most one requirement. The base requirement
(`required` approvals from any of `groups`) and every extra requirement from the gate (e.g.
one from `vp-engineering` for a Friday deploy) need *distinct* people, assigned by a
maximum matching so the order in which approvals arrive never loses one that could count.
User names compare case-insensitively (`Alice` approving `alice`'s change is a self-approval).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rollway.durations import Duration
from rollway.policy._common import as_utc

__all__ = [
    "ApprovalCheck",
    "ApprovalPolicy",
    "ApprovalProgress",
    "ApprovalRequirement",
    "GroupDirectory",
    "RequirementProgress",
    "approval_deadline",
    "approval_progress",
    "check_approval",
    "next_reminder",
]


def _key(user: str) -> str:
    return user.strip().casefold()


class ApprovalRequirement(BaseModel):
    """`count` approvals from members of `group`, e.g. 1 from vp-engineering for a Friday."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    group: str = Field(min_length=1)
    count: int = Field(default=1, ge=1)
    reason: str = ""


class ApprovalPolicy(BaseModel):
    """The base approval gate of an environment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    required: int = Field(default=1, ge=0, description="Distinct approvals needed.")
    groups: list[str] = Field(
        default_factory=list,
        description="Groups whose members count; empty means anyone may approve (except the "
        "author, unless allow_author).",
    )
    allow_author: bool = Field(default=False, description="May the change's author approve?")
    timeout: Duration | None = Field(default=None, description="How long to wait, e.g. '24h'.")
    on_timeout: Literal["reject", "escalate"] = "reject"
    escalate_to: list[str] = Field(
        default_factory=list,
        description="Groups named in the escalation (no notification is sent yet).",
    )
    remind_every: Duration | None = Field(
        default=None, description="Reminder interval (accepted; no reminder is sent yet)."
    )

    @model_validator(mode="after")
    def _check(self) -> ApprovalPolicy:
        if self.timeout is not None and self.timeout <= timedelta(0):
            raise ValueError("approvals.timeout must be positive, e.g. '24h'")
        if self.remind_every is not None and self.remind_every <= timedelta(0):
            raise ValueError("approvals.remind_every must be positive, e.g. '4h'")
        if self.escalate_to and self.on_timeout != "escalate":
            raise ValueError(
                "approvals.escalate_to is set but on_timeout is 'reject'; set on_timeout: escalate"
            )
        return self


class GroupDirectory(BaseModel):
    """Group name -> member user names."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    groups: dict[str, list[str]] = Field(default_factory=dict)
    slack_users: dict[str, str] = Field(
        default_factory=dict,
        description="Slack user id -> approver name, for Approve/Reject from Slack "
        "(`rollway serve`), e.g. {U0123ABCD: alice}.",
    )

    @field_validator("groups", mode="before")
    @classmethod
    def _members_are_lists(cls, v: Any) -> Any:
        if isinstance(v, dict):
            for name, members in v.items():
                if members is None:
                    continue
                if not isinstance(members, list) or not all(
                    isinstance(m, str) and m.strip() for m in members
                ):
                    raise ValueError(
                        f"group '{name}': members must be a list of user names, "
                        f"e.g. {name}: [alice, bob]"
                    )
            return {name: [m.strip() for m in (ms or [])] for name, ms in v.items()}
        return v

    @classmethod
    def from_yaml_text(cls, text: str) -> GroupDirectory:
        """Parse `groups: {release-managers: [alice, bob], vp-engineering: [carol]}`."""
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValueError(f"group directory is not valid YAML: {exc}") from exc
        if data is None:
            data = {"groups": {}}
        if not isinstance(data, dict) or "groups" not in data:
            raise ValueError(
                "group directory must be a mapping with a top-level `groups:` key, e.g.\n"
                "groups:\n  release-managers: [alice, bob]"
            )
        return cls.model_validate(data)

    def members(self, group: str) -> list[str]:
        """Members of `group` ([] if unknown)."""
        return list(self.groups.get(group, []))

    def is_member(self, user: str, group: str) -> bool:
        """True if `user` belongs to `group` (case-insensitive)."""
        k = _key(user)
        return any(_key(m) == k for m in self.groups.get(group, []))

    def groups_of(self, user: str) -> list[str]:
        """Groups `user` belongs to, sorted."""
        return sorted(g for g in self.groups if self.is_member(user, g))

    def missing_groups(self, names: Iterable[str]) -> list[str]:
        """Those of `names` that the directory does not define (for config checks)."""
        return sorted({n for n in names if n not in self.groups})


class ApprovalCheck(BaseModel):
    """Whether one approve/reject action is accepted, and why."""

    model_config = ConfigDict(frozen=True)

    accepted: bool
    reason: str


class RequirementProgress(BaseModel):
    """Progress on one requirement; `groups` are alternatives (any member counts)."""

    model_config = ConfigDict(frozen=True)

    groups: list[str]
    count: int
    reason: str
    approved_by: list[str]

    @property
    def missing(self) -> int:
        """Approvals still needed for this requirement."""
        return max(0, self.count - len(self.approved_by))

    def describe(self) -> str:
        """`'1/2 from release-managers (alice)'`."""
        who = f" ({', '.join(self.approved_by)})" if self.approved_by else ""
        why = f" [{self.reason}]" if self.reason else ""
        return f"{len(self.approved_by)}/{self.count} from {self.source()}{why}{who}"

    def source(self) -> str:
        """`'release-managers or vp'`, or `'anyone'` when no group is named."""
        return " or ".join(self.groups) if self.groups else "anyone"

    def admits(self, directory: GroupDirectory, user: str) -> bool:
        """May `user` count toward this requirement?"""
        return not self.groups or any(directory.is_member(user, g) for g in self.groups)


class ApprovalProgress(BaseModel):
    """Who approved, what counted toward what, and what is still needed."""

    model_config = ConfigDict(frozen=True)

    satisfied: bool
    requirements: list[RequirementProgress]
    counted: list[str] = Field(description="Approvers whose approval counts, in arrival order.")
    ignored: dict[str, str] = Field(description="Approver -> why the approval does not count.")
    still_needed: list[str] = Field(description="Human strings, e.g. '1 more from vp-engineering'.")

    @property
    def summary(self) -> str:
        """One line for logs and UIs."""
        if not self.requirements:
            return "no approvals required"
        parts = "; ".join(r.describe() for r in self.requirements)
        return f"{'approved' if self.satisfied else 'waiting'}: {parts}"


def _requirements(
    policy: ApprovalPolicy, extra: Sequence[ApprovalRequirement]
) -> list[RequirementProgress]:
    reqs = []
    if policy.required > 0:
        reqs.append(
            RequirementProgress(
                groups=list(policy.groups), count=policy.required, reason="", approved_by=[]
            )
        )
    for e in extra:
        reqs.append(
            RequirementProgress(groups=[e.group], count=e.count, reason=e.reason, approved_by=[])
        )
    return reqs


def _match(eligible: list[list[int]], capacity: list[int]) -> dict[int, int]:
    """Maximum bipartite matching approver -> requirement (Kuhn's algorithm over slots).

    Approvers are placed in arrival order and an augmenting path never unmatches anyone, so
    an earlier approver that counted keeps counting.
    """
    # Try the later (extra, usually smaller-group) requirements first, so an approver who
    # could fill either is first offered to the scarcer one.
    slots = [r for r in reversed(range(len(capacity))) for _ in range(capacity[r])]
    slot_owner: dict[int, int] = {}

    def place(a: int, seen: set[int]) -> bool:
        for s, r in enumerate(slots):
            if r not in eligible[a] or s in seen:
                continue
            seen.add(s)
            if s not in slot_owner or place(slot_owner[s], seen):
                slot_owner[s] = a
                return True
        return False

    for a in range(len(eligible)):
        place(a, set())
    return {a: slots[s] for s, a in slot_owner.items()}


def approval_progress(
    policy: ApprovalPolicy,
    directory: GroupDirectory,
    *,
    approved_by: Sequence[str],
    author: str | None,
    extra_requirements: Sequence[ApprovalRequirement] = (),
) -> ApprovalProgress:
    """Match approvals to the base requirement and the gate's extra requirements."""
    reqs = _requirements(policy, extra_requirements)
    ignored: dict[str, str] = {}
    approvers: list[str] = []
    seen: set[str] = set()
    for user in approved_by:
        k = _key(user)
        if not k or k in seen:
            continue
        seen.add(k)
        if author is not None and k == _key(author) and not policy.allow_author:
            ignored[user] = "author cannot approve their own change"
            continue
        approvers.append(user)
    eligible = [[i for i, r in enumerate(reqs) if r.admits(directory, u)] for u in approvers]
    owner = _match(eligible, [r.count for r in reqs])
    got: dict[int, list[str]] = {i: [] for i in range(len(reqs))}
    counted = []
    for a, user in enumerate(approvers):
        if a in owner:
            got[owner[a]].append(user)
            counted.append(user)
        elif not eligible[a]:
            ignored[user] = "not a member of any group that can approve"
        else:
            ignored[user] = "the requirements this approver can satisfy are already met"
    done = [r.model_copy(update={"approved_by": got[i]}) for i, r in enumerate(reqs)]
    still = [
        f"{r.missing} more from {r.source()}" + (f" ({r.reason})" if r.reason else "")
        for r in done
        if r.missing
    ]
    return ApprovalProgress(
        satisfied=not still,
        requirements=done,
        counted=counted,
        ignored=ignored,
        still_needed=still,
    )


def check_approval(
    policy: ApprovalPolicy,
    directory: GroupDirectory,
    *,
    by: str,
    author: str | None,
    already_approved_by: Sequence[str],
    kind: Literal["approve", "reject"],
    awaiting: bool,
    extra_requirements: Sequence[ApprovalRequirement] = (),
) -> ApprovalCheck:
    """Decide whether `by`'s approve/reject is accepted; refusals say why.

    Refused: nothing awaiting, blank user, duplicate approval, self-approval (unless
    `allow_author`), approver outside every allowed group, and approvals that would not count
    because the requirements they could satisfy are already met. A reject is accepted from
    anyone who could approve, and from the author (withdrawing their own change).
    """
    if not awaiting:
        return ApprovalCheck(accepted=False, reason=f"nothing is awaiting approval; {kind} ignored")
    if not by.strip():
        return ApprovalCheck(accepted=False, reason="no user given")
    reqs = _requirements(policy, extra_requirements)
    all_groups = sorted({g for r in reqs for g in r.groups})
    in_groups = any(r.admits(directory, by) for r in reqs)
    is_author = author is not None and _key(by) == _key(author)
    if kind == "reject":
        if is_author:
            return ApprovalCheck(accepted=True, reason=f"{by} withdrew their own change")
        if in_groups:
            return ApprovalCheck(accepted=True, reason=f"rejected by {by}")
        return ApprovalCheck(
            accepted=False,
            reason=f"{by} cannot reject: not a member of {', '.join(all_groups) or 'any group'}",
        )
    if not reqs:
        return ApprovalCheck(accepted=False, reason="this policy requires no approvals")
    if any(_key(u) == _key(by) for u in already_approved_by):
        return ApprovalCheck(accepted=False, reason=f"{by} already approved; duplicate ignored")
    if is_author and not policy.allow_author:
        return ApprovalCheck(
            accepted=False,
            reason=(
                f"{by} is the author and cannot approve their own change (separation of "
                "duties; set approvals.allow_author: true to permit)"
            ),
        )
    if not in_groups:
        return ApprovalCheck(
            accepted=False,
            reason=f"{by} is not a member of an allowed group ({', '.join(all_groups)})",
        )
    kw: dict[str, Any] = {"author": author, "extra_requirements": extra_requirements}
    before = approval_progress(policy, directory, approved_by=already_approved_by, **kw)
    after = approval_progress(policy, directory, approved_by=[*already_approved_by, by], **kw)
    if len(after.counted) <= len(before.counted):
        if before.satisfied:
            why = "all required approvals are already in"
        else:
            why = "still needed: " + "; ".join(before.still_needed)
        return ApprovalCheck(
            accepted=False, reason=f"{by}'s approval would not count ({why}); ignored"
        )
    rest = (
        "approval complete" if after.satisfied else "still needed: " + "; ".join(after.still_needed)
    )
    return ApprovalCheck(accepted=True, reason=f"approved by {by}; {rest}")


def approval_deadline(policy: ApprovalPolicy, requested_at: datetime) -> datetime | None:
    """When the approval times out (UTC), or None without a timeout."""
    if policy.timeout is None:
        return None
    return as_utc(requested_at, "requested_at") + policy.timeout


def next_reminder(policy: ApprovalPolicy, requested_at: datetime, at: datetime) -> datetime | None:
    """The first reminder instant strictly after `at` (UTC), or None without reminders.

    Reminders fall at `requested_at + k * remind_every` and continue after an escalation
    (escalate means notify and keep waiting); with `on_timeout: reject` they stop at the
    deadline.
    """
    if policy.remind_every is None:
        return None
    start, now = as_utc(requested_at, "requested_at"), as_utc(at)
    k = max(1, (now - start) // policy.remind_every + 1)
    t = start + k * policy.remind_every
    deadline = approval_deadline(policy, start)
    if policy.on_timeout == "reject" and deadline is not None and t >= deadline:
        return None
    return t
