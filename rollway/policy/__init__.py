"""Release policy as pure, deterministic functions: windows, freezes, approvals, the gate.

No clock reads and no I/O: every function takes the instant to evaluate as an aware datetime,
so they are safe to call from Temporal workflow code.
"""

from rollway.policy._common import zone
from rollway.policy.approvals import (
    ApprovalCheck,
    ApprovalPolicy,
    ApprovalProgress,
    ApprovalRequirement,
    GroupDirectory,
    RequirementProgress,
    approval_deadline,
    approval_progress,
    check_approval,
    next_reminder,
)
from rollway.policy.freezes import (
    DateRangeFreeze,
    Freeze,
    FreezeCalendar,
    FreezeInfo,
    IncidentFreeze,
    LaunchFreeze,
    QuarterEndFreeze,
)
from rollway.policy.release_gate import (
    EmergencyPolicy,
    ExtraApprovalRule,
    GateDecision,
    HotfixPolicy,
    ReleasePolicy,
    earliest_open,
    evaluate_gate,
)
from rollway.policy.windows import DeployWindow, Schedule

__all__ = [
    "ApprovalCheck",
    "ApprovalPolicy",
    "ApprovalProgress",
    "ApprovalRequirement",
    "DateRangeFreeze",
    "DeployWindow",
    "EmergencyPolicy",
    "ExtraApprovalRule",
    "Freeze",
    "FreezeCalendar",
    "FreezeInfo",
    "GateDecision",
    "GroupDirectory",
    "HotfixPolicy",
    "IncidentFreeze",
    "LaunchFreeze",
    "QuarterEndFreeze",
    "ReleasePolicy",
    "RequirementProgress",
    "Schedule",
    "approval_deadline",
    "approval_progress",
    "check_approval",
    "earliest_open",
    "evaluate_gate",
    "next_reminder",
    "zone",
]
