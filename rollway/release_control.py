"""Release control payloads: incidents, manual freezes, the production lock, overrides, audit.

`ReleaseControlWorkflow` (one per environment, id `release-control-<environment>`)
holds incidents and manual freezes and grants the per-service production lock;
promotions subscribe to it and receive a `ControlSnapshot` on every change.
All inputs are plain JSON, so `temporal workflow update execute --name
declare_incident --input '{"id": "INC-7", "severity": "SEV-1", "commander": "ic-alice"}'`
works without our CLI.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field, field_validator

from rollway.fields import Name, Person, Text
from rollway.policy import GroupDirectory
from rollway.security.decisions import SignedDecision

SEVERITIES = ("SEV-1", "SEV-2", "SEV-3", "SEV-4")


def control_workflow_id(environment: str) -> str:
    """The release-control workflow of an environment."""
    return f"release-control-{environment}"


def normalize_severity(value: str | int) -> str:
    """'sev1', 'SEV-1', 1 -> 'SEV-1'; anything else is a clear error."""
    m = re.fullmatch(r"(?i)\s*(?:sev)?[-_ ]?([1-4])\s*", str(value))
    if not m:
        raise ValueError(f"severity '{value}' is not one of {', '.join(SEVERITIES)}")
    return f"SEV-{m.group(1)}"


class Incident(BaseModel):
    id: str
    severity: str
    commander: str
    summary: str = ""
    declared_by: str
    declared_at: datetime


class ManualFreeze(BaseModel):
    id: str
    reason: str
    by: str
    at: datetime
    until: datetime | None = None


class ControlSnapshot(BaseModel):
    """What promotions in an environment must know: active incidents and manual freezes."""

    environment: str
    incidents: list[Incident] = Field(default_factory=list)
    freezes: list[ManualFreeze] = Field(default_factory=list)
    revision: int = 0

    def commander_of(self, user: str) -> Incident | None:
        """The active incident `user` commands, if any."""
        return next((i for i in self.incidents if i.commander.lower() == user.lower()), None)


# --- human inputs (updates on the release-control workflow) ---------------------------


class DeclareIncidentInput(BaseModel):
    id: Name
    severity: str = Field(max_length=16)
    commander: Person
    summary: Text = ""
    by: Person = "unknown"
    signed: SignedDecision | None = Field(
        default=None,
        description="The same decision signed by `by`; its comment must be `signed_text()`.",
    )

    @field_validator("severity")
    @classmethod
    def _sev(cls, v: str) -> str:
        return normalize_severity(v)

    def signed_text(self) -> str:
        """What a signature must cover besides the action: the incident's every field."""
        return f"{self.id} {self.severity} IC {self.commander}: {self.summary}"


class ResolveIncidentInput(BaseModel):
    id: Name
    by: Person = "unknown"
    reason: Text = ""
    signed: SignedDecision | None = Field(
        default=None,
        description="The same decision signed by `by`; its comment must be `signed_text()`.",
    )

    def signed_text(self) -> str:
        return f"{self.id}: {self.reason}"


class FreezeInput(BaseModel):
    id: Name = "manual"
    reason: Text = Field(min_length=1, description="Why deploys stop; shown to everyone waiting.")
    by: Person = "unknown"
    until: AwareDatetime | None = Field(
        default=None, description="When it lifts by itself; must carry a time zone."
    )
    signed: SignedDecision | None = Field(
        default=None,
        description="The same decision signed by `by`; its comment must be `signed_text()`.",
    )

    def signed_text(self) -> str:
        until = self.until.isoformat() if self.until is not None else "lifted by hand"
        return f"{self.id} until {until}: {self.reason}"


class UnfreezeInput(BaseModel):
    id: Name = "manual"
    by: Person = "unknown"
    reason: Text = ""
    signed: SignedDecision | None = Field(
        default=None,
        description="The same decision signed by `by`; its comment must be `signed_text()`.",
    )

    def signed_text(self) -> str:
        return f"{self.id}: {self.reason}"


# --- promotion <-> release control ----------------------------------------------------


class EnsureControlInput(BaseModel):
    """Start the environment's release-control workflow unless it runs (an activity)."""

    workflow_id: str
    environment: str


class ControlViewInput(BaseModel):
    """What one promotion asks release control: the snapshot and its own lock."""

    control_id: str = Field(description="The release-control workflow to read.")
    workflow_id: str
    service: str


class ControlView(BaseModel):
    """Release control's answer, read by an activity: never taken from a signal's payload."""

    snapshot: ControlSnapshot
    lock: LockDecision | None = None


class SubscribeInput(BaseModel):
    workflow_id: str
    service: str


class LockRequest(BaseModel):
    """A promotion asks for its service's production lock."""

    workflow_id: str
    service: str
    commit: str
    on_conflict: Literal["supersede", "queue"] = "supersede"
    hold: bool = Field(
        default=False,
        description="Granted straight into the non-supersedable stage (an environment "
        "the holder writes at once, such as staging): newer commits wait their turn.",
    )


class LockStageInput(BaseModel):
    """The holder reports its stage: once past approval it can no longer be superseded."""

    workflow_id: str
    service: str
    stage: Literal["approval", "production"]


class LockRelease(BaseModel):
    workflow_id: str
    service: str


LockStatus = Literal["granted", "queued", "superseded"]


class LockDecision(BaseModel):
    """Sent to a promotion: the lock is granted, queued behind `holder`, or superseded."""

    status: LockStatus
    holder: str | None = None
    superseded_by: str | None = None
    environment: str | None = Field(
        default=None, description="Whose lock (a promotion may hold staging's and production's)."
    )


class LockHolder(BaseModel):
    workflow_id: str
    commit: str
    stage: Literal["approval", "production"] = "approval"


# --- overrides and audit (on promotions) -------------------------------------------------

OverrideKind = Literal["bypass_gate", "rollback", "pause", "resume", "skip_soak", "promote_now"]


class OverrideInput(BaseModel):
    """An incident commander's (or release manager's) override of one promotion."""

    by: Person
    kind: OverrideKind
    reason: Text = Field(min_length=1, description="Required: every override is audited.")
    signed: SignedDecision | None = Field(
        default=None,
        description="The same decision signed by `by` (action override:<kind>, comment `reason`).",
    )


class AuditEntry(BaseModel):
    """One decision: who, when, what, accepted or refused, and why."""

    at: datetime
    by: str
    action: str
    accepted: bool = True
    reason: str = ""


class ControlPolicy(BaseModel):
    """What release control needs to judge a decision (activity `load_control_policy`)."""

    groups: GroupDirectory
    unsigned_accepted: bool = Field(
        description="Unsigned incident and freeze decisions are accepted "
        "(worker setting ROLLWAY_UNSIGNED_CONTROL)."
    )


class ReleaseControlState(BaseModel):
    """The release-control workflow's whole state (carried across continue-as-new)."""

    snapshot: ControlSnapshot
    subscribers: dict[str, str] = Field(default_factory=dict, description="workflow id -> service")
    locks: dict[str, LockHolder] = Field(default_factory=dict, description="service -> holder")
    queues: dict[str, list[LockRequest]] = Field(default_factory=dict)
    audit: list[AuditEntry] = Field(default_factory=list)
    superseded: dict[str, str] = Field(
        default_factory=dict, description="workflow id -> the newer promotion that superseded it"
    )
    nonces: dict[str, datetime] = Field(
        default_factory=dict,
        description="Nonces of accepted signed decisions -> their expiry (replays are refused).",
    )
