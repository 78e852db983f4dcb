"""The per-environment release policy and the pure gate that evaluates it.

`evaluate_gate` answers "may this deploy start now, and if not, when?" from the policy, an
instant, and facts the caller supplies (hotfix?, emergency approval?, active incidents). It
never reads the clock. Paths, in order of precedence:

* `bypass` - operator override: everything is skipped (the caller authorises it).
* `emergency` - the caller says an active incident's commander approved and an incident of one
  of `emergency.severities` is active: any time, any day; freezes are bypassed too unless
  `emergency.bypasses_freezes: false`. Incident freezes are always bypassed (the emergency is
  the fix for the incident).
* `hotfix` - used when the normal path would be closed by the window or need day-rule approvals:
  windows and day rules are skipped and `hotfix.count` approvals from `hotfix.group` are
  required instead. Hotfixes do NOT bypass freezes unless `hotfix.bypasses_freezes: true`, and
  never bypass incident freezes (use the emergency path).
* `normal` - window open, no freeze; day rules (e.g. Friday) add `extra_approvals`.

`extra_approvals` lists approvals needed *if deploying now* (empty when closed), on top of the
base `approvals` policy; feed them to `approval_progress`/`check_approval`. Time passes while
approvals are collected, so re-evaluate the gate right before deploying.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from rollway.policy._common import (
    SEARCH_HORIZON_STEPS,
    Severity,
    TimeZoneName,
    Weekdays,
    as_utc,
    fmt_days,
    fmt_local,
    normalize_severity,
    zone,
)
from rollway.policy.approvals import ApprovalPolicy, ApprovalRequirement
from rollway.policy.freezes import FreezeCalendar, FreezeInfo
from rollway.policy.windows import Schedule

__all__ = [
    "EmergencyPolicy",
    "ExtraApprovalRule",
    "GateDecision",
    "HotfixPolicy",
    "ReleasePolicy",
    "earliest_open",
    "evaluate_gate",
]

_FULL_DAY = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class ExtraApprovalRule(BaseModel):
    """On `days` (local to `timezone`), deploys need `count` more approvals from `group`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    days: Weekdays
    timezone: TimeZoneName
    group: str = Field(min_length=1)
    count: int = Field(default=1, ge=1)
    reason: str | None = None

    def applies(self, at: datetime) -> bool:
        """True if `at` falls on one of `days` in `timezone`."""
        return as_utc(at).astimezone(zone(self.timezone)).weekday() in self.days

    def requirement(self) -> ApprovalRequirement:
        """The approval this rule adds, e.g. 1 from vp-engineering ("Friday deploy")."""
        days = _FULL_DAY[self.days[0]] if len(self.days) == 1 else fmt_days(self.days)
        return ApprovalRequirement(
            group=self.group, count=self.count, reason=self.reason or f"{days} deploy"
        )


class HotfixPolicy(BaseModel):
    """Hotfixes skip windows and day rules with `count` approvals from `group`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    group: str = Field(min_length=1)
    count: int = Field(default=1, ge=1)
    bypasses_freezes: bool = False


class EmergencyPolicy(BaseModel):
    """Emergency deploys: any time, with an active incident commander's approval."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    severities: list[Severity] = Field(default_factory=lambda: ["SEV-1"], min_length=1)
    approver: str = Field(
        default="incident-commander",
        description="Who must approve (checked by the caller, which passes emergency_approved).",
    )
    bypasses_freezes: bool = True


class ReleasePolicy(BaseModel):
    """Everything that gates a deploy to one environment (`environments.<env>.policy`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    windows: Schedule = Field(default_factory=lambda: Schedule([]))
    freezes: FreezeCalendar = Field(default_factory=lambda: FreezeCalendar([]))
    approvals: ApprovalPolicy = Field(default_factory=lambda: ApprovalPolicy(required=0))
    extra_approvals: list[ExtraApprovalRule] = Field(default_factory=list)
    hotfix: HotfixPolicy | None = None
    emergency: EmergencyPolicy | None = None
    unsigned_decisions: Literal["accepted", "refused"] | None = Field(
        default=None,
        description="Whether decisions without a signature (approve, rollback, pause, …) are "
        "accepted here. Default: refused for the production (canary) environment, accepted "
        "elsewhere (see docs/security.md).",
    )

    def referenced_groups(self) -> set[str]:
        """Every group name the policy mentions (check them against the GroupDirectory)."""
        names = set(self.approvals.groups) | set(self.approvals.escalate_to)
        names |= {r.group for r in self.extra_approvals}
        if self.hotfix is not None:
            names.add(self.hotfix.group)
        return names


class GateDecision(BaseModel):
    """The gate's answer. `reasons` is empty exactly when `open` is true."""

    model_config = ConfigDict(frozen=True)

    open: bool
    path: Literal["normal", "hotfix", "emergency", "bypass"]
    reasons: list[str] = Field(description="Why the gate is closed (human strings).")
    notes: list[str] = Field(default_factory=list, description="Informational remarks.")
    wait_until: datetime | None = Field(
        description="Earliest UTC instant time alone could open the gate; None if open or if "
        "time will not open it (e.g. an incident freeze)."
    )
    extra_approvals: list[ApprovalRequirement] = Field(
        description="Approvals needed on top of the base policy if deploying now."
    )
    freezes: list[FreezeInfo] = Field(
        default_factory=list, description="Freezes in force at `at` (bypassed ones included)."
    )


def earliest_open(policy: ReleasePolicy, at: datetime, *, windows: bool = True) -> datetime | None:
    """Earliest instant >= `at` inside a window (if `windows`) and outside time-based freezes."""
    t = as_utc(at)
    for _ in range(SEARCH_HORIZON_STEPS):
        if windows:
            t = policy.windows.next_open(t)
        u = policy.freezes.next_unfrozen(t)
        if u == t:
            return t
        t = u
    return None


def _display_tz(policy: ReleasePolicy, at: datetime) -> str:
    w = policy.windows.next_open_window(at)
    if w is not None:
        return w.timezone
    for f in policy.freezes.time_freezes_at(at):
        if f.timezone:
            return f.timezone
    return "UTC"


def evaluate_gate(
    policy: ReleasePolicy,
    at: datetime,
    *,
    hotfix: bool = False,
    emergency_approved: bool = False,
    bypass: bool = False,
    active_incident_severities: Iterable[str | int] = (),
) -> GateDecision:
    """Decide whether a deploy governed by `policy` may start at `at` (aware; UTC preferred).

    `emergency_approved`: the commander of an active incident approved (caller-verified).
    `active_incident_severities`: e.g. `["SEV-1"]`; accepts `'sev1'`, `1`.
    """
    at = as_utc(at)
    sevs = {normalize_severity(s) for s in active_incident_severities}
    time_fz = policy.freezes.time_freezes_at(at)
    inc_fz = policy.freezes.incident_freezes(sevs)
    notes: list[str] = []

    if bypass:
        notes.append("operator bypass: windows, day rules, freezes and incidents not enforced")
        return GateDecision(
            open=True,
            path="bypass",
            reasons=[],
            notes=notes,
            wait_until=None,
            extra_approvals=[],
            freezes=time_fz + inc_fz,
        )

    if emergency_approved:
        em = policy.emergency
        if em is None:
            notes.append("emergency approval ignored: this environment has no emergency path")
        elif not sevs & set(em.severities):
            notes.append(
                f"emergency approval ignored: no active {'/'.join(em.severities)} incident"
            )
        else:
            blocking = [] if em.bypasses_freezes else time_fz
            em_reasons = [
                f"{f.describe()} (emergencies do not bypass freezes here)" for f in blocking
            ]
            if time_fz and em.bypasses_freezes:
                notes.append("emergency deploy bypasses active freezes")
            notes.append(f"emergency deploy approved by the {em.approver}; schedule bypassed")
            return GateDecision(
                open=not em_reasons,
                path="emergency",
                reasons=em_reasons,
                notes=notes,
                wait_until=earliest_open(policy, at, windows=False) if em_reasons else None,
                extra_approvals=[],
                freezes=time_fz + inc_fz,
            )

    window_open = policy.windows.is_open(at)
    day_rules = [r for r in policy.extra_approvals if r.applies(at)]
    hot = policy.hotfix if hotfix else None
    if hotfix and hot is None:
        notes.append("hotfix requested but this environment has no hotfix path; normal rules apply")
    use_hotfix = hot is not None and (
        not window_open or bool(day_rules) or (bool(time_fz) and hot.bypasses_freezes)
    )
    if hot is not None and not use_hotfix:
        notes.append("inside the deploy window with no day rules; hotfix follows the normal path")

    reasons: list[str] = []
    mentioned: set[datetime] = set()  # instants already named in reasons
    if not window_open and not use_hotfix:
        nxt = policy.windows.next_open(at)
        mentioned.add(nxt)
        reasons.append(
            f"outside deploy window {policy.windows.describe()}; "
            f"next opens {fmt_local(nxt, _display_tz(policy, at))}"
        )
    if use_hotfix and hot is not None and hot.bypasses_freezes:
        if time_fz:
            notes.append("hotfix bypasses active freezes")
    else:
        suffix = " (hotfixes do not bypass freezes)" if use_hotfix else ""
        reasons.extend(f.describe() + suffix for f in time_fz)
        mentioned.update(f.ends_at for f in time_fz if f.ends_at is not None)
    reasons.extend(f.describe() for f in inc_fz)

    wait_until: datetime | None = None
    if reasons and not inc_fz:
        wait_until = earliest_open(policy, at, windows=not use_hotfix)
        if wait_until is not None and wait_until not in mentioned:
            reasons.append(
                "earliest opening (windows and freezes combined): "
                f"{fmt_local(wait_until, _display_tz(policy, wait_until))}"
            )

    extra: list[ApprovalRequirement] = []
    if not reasons:
        if use_hotfix and hot is not None:
            skipped_parts = [
                name
                for name, hit in (
                    ("deploy window", not window_open),
                    ("day rules", bool(day_rules)),
                    ("freezes", bool(time_fz)),
                )
                if hit
            ]
            bypassed = " and ".join(skipped_parts)
            extra = [
                ApprovalRequirement(
                    group=hot.group, count=hot.count, reason=f"hotfix bypassing {bypassed}"
                )
            ]
            if day_rules:
                skipped = ", ".join(r.requirement().reason for r in day_rules)
                notes.append(f"hotfix replaces day-rule approvals ({skipped})")
        else:
            extra = [r.requirement() for r in day_rules]

    return GateDecision(
        open=not reasons,
        path="hotfix" if use_hotfix else "normal",
        reasons=reasons,
        notes=notes,
        wait_until=wait_until,
        extra_approvals=extra,
        freezes=time_fz + inc_fz,
    )
