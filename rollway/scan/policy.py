"""The scan gate's severity policy and its pure `evaluate` function.

Rules, applied to each finding in this order:

1. Secrets block whenever `secrets_always_block` is true; no exception waives them
   (rotate the credential, then fix the scanner's allow-list).
2. An exception whose `finding_id` equals the finding's id waives it while it is
   valid: through the end of its `expires` day (UTC). An expired exception no
   longer applies and the verdict's warnings say so.
3. A severity in `block_severities` (default: critical) blocks.
4. A `high` finding that does not block is deferred: due `high_due_days` after now.
5. Anything else is counted only.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

from pydantic import BaseModel, Field, field_validator

from rollway.scan.findings import (
    SEVERITY_RANK,
    AppliedException,
    DeferredFinding,
    Finding,
    ScanVerdict,
    Severity,
)


class ScanException(BaseModel):
    """A justified, time-limited waiver of one finding id (e.g. a CVE with no fix yet)."""

    finding_id: str = Field(min_length=1, description="The finding's id, e.g. 'CVE-2024-3094'.")
    justification: str = Field(description="Why it is acceptable; required, not blank.")
    expires: date = Field(description="Last day the waiver applies (inclusive, UTC).")

    @field_validator("justification")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("an exception needs a justification saying why the risk is accepted")
        return v.strip()

    def valid_on(self, day: date) -> bool:
        """True while the waiver applies on `day`."""
        return day <= self.expires


def _default_block() -> list[Severity]:
    return ["critical"]


class ScanPolicy(BaseModel):
    """What blocks a promotion and what may wait."""

    block_severities: list[Severity] = Field(default_factory=_default_block)
    high_due_days: int = Field(default=14, ge=0, description="Days to fix a non-blocking high.")
    secrets_always_block: bool = True
    exceptions: list[ScanException] = Field(default_factory=list)


def evaluate(findings: Iterable[Finding], policy: ScanPolicy, now: datetime) -> ScanVerdict:
    """Decide the gate for `findings` under `policy` at `now` (timezone-aware; pure)."""
    if now.tzinfo is None:
        raise ValueError("evaluate() needs a timezone-aware `now` (e.g. workflow.now())")
    today = now.astimezone(UTC).date()
    unique = _sorted_unique(findings)

    by_id: dict[str, ScanException] = {}
    for cand in policy.exceptions:
        # Several exceptions for one id: the one that lasts longest wins.
        if cand.finding_id not in by_id or cand.expires > by_id[cand.finding_id].expires:
            by_id[cand.finding_id] = cand

    blocking: list[Finding] = []
    deferred: list[DeferredFinding] = []
    waived: dict[str, int] = {}
    warnings: list[str] = []
    refused: set[str] = set()
    due = today + timedelta(days=policy.high_due_days)

    for f in unique:
        exc = by_id.get(f.id)
        secret_blocks = f.is_secret and policy.secrets_always_block
        if exc is not None and exc.valid_on(today):
            if secret_blocks:
                if f.id not in refused:
                    refused.add(f.id)
                    warnings.append(
                        f"exception for {f.id} not applied: secrets always block "
                        "(rotate the credential and allow-list it in the secret scanner)"
                    )
            else:
                waived[f.id] = waived.get(f.id, 0) + 1
                continue
        if secret_blocks or f.severity in policy.block_severities:
            blocking.append(f)
        elif f.severity == "high":
            deferred.append(DeferredFinding(finding=f, due=due))

    present = {f.id for f in unique}
    for rule in by_id.values():
        if not rule.valid_on(today):
            state = (
                "its finding counts again"
                if rule.finding_id in present
                else "it matches no current finding; remove it"
            )
            warnings.append(
                f"exception for {rule.finding_id} expired on {rule.expires.isoformat()} and no "
                f"longer applies ({state})"
            )
        elif rule.finding_id not in present:
            warnings.append(f"exception for {rule.finding_id} matches no finding; remove it")

    applied = [
        AppliedException(
            finding_id=fid,
            justification=by_id[fid].justification,
            expires=by_id[fid].expires,
            waived=n,
        )
        for fid, n in waived.items()
    ]
    counts: dict[Severity, int] = {}
    for f in unique:
        counts[f.severity] = counts.get(f.severity, 0) + 1

    passed = not blocking
    return ScanVerdict(
        passed=passed,
        blocking=blocking,
        deferred=deferred,
        exceptions_applied=applied,
        warnings=warnings,
        counts=counts,
        evaluated_at=now,
        summary=_summary(passed, blocking, deferred, applied, warnings, len(unique)),
    )


def _sorted_unique(findings: Iterable[Finding]) -> list[Finding]:
    seen: set[Finding] = set()
    out: list[Finding] = []
    for f in findings:
        if f not in seen:
            seen.add(f)
            out.append(f)
    return sorted(out, key=lambda f: SEVERITY_RANK[f.severity])


def _summary(
    passed: bool,
    blocking: list[Finding],
    deferred: list[DeferredFinding],
    applied: list[AppliedException],
    warnings: list[str],
    total: int,
) -> str:
    lines: list[str] = []
    if passed:
        lines.append(f"Scan gate PASSED: {total} finding(s), none blocking.")
    else:
        lines.append(f"Scan gate BLOCKED by {len(blocking)} finding(s) of {total}:")
        for f in blocking:
            reason = "secret" if f.is_secret else f.severity
            lines.append(f"  - [{reason}] {f.label()} ({f.tool}): {f.title}")
    if deferred:
        lines.append(f"{len(deferred)} high finding(s) deferred:")
        for d in deferred:
            lines.append(f"  - {d.finding.label()} due {d.due.isoformat()}")
    for a in applied:
        lines.append(
            f"Exception applied to {a.finding_id} until {a.expires.isoformat()}: {a.justification}"
        )
    lines.extend(f"Warning: {w}" for w in warnings)
    return "\n".join(lines)
