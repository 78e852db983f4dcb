"""Scan findings and the gate's verdict: the models that cross the Temporal boundary.

Every model here is plain JSON (pydantic v2). A `Finding` never carries a secret's
value: parsers drop code snippets and redact quoted literals from secret findings.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Severity = Literal["critical", "high", "medium", "low", "info"]

SEVERITIES: tuple[Severity, ...] = ("critical", "high", "medium", "low", "info")
"""All severities, most severe first."""

SEVERITY_RANK: dict[Severity, int] = {s: i for i, s in enumerate(SEVERITIES)}
"""Sort key: 0 is the most severe."""


class Finding(BaseModel):
    """One issue reported by one scanner.

    Code findings have `location` (`path:line`); dependency/image findings have
    `package`, `installed_version` and (when a fix exists) `fixed_version`.
    """

    model_config = ConfigDict(frozen=True)

    id: str = Field(description="Rule or vulnerability id, e.g. 'CVE-2024-3094' or 'B602'.")
    tool: str = Field(description="Scanner that reported it, e.g. 'Trivy', 'Bandit', 'ecr'.")
    severity: Severity
    title: str = Field(description="One line: the rule's short description or name.")
    message: str = Field(default="", description="The scanner's message; secrets redacted.")
    location: str | None = Field(default=None, description="'path:line' for code findings.")
    package: str | None = None
    installed_version: str | None = None
    fixed_version: str | None = None
    is_secret: bool = Field(default=False, description="A leaked credential (gitleaks, ...).")
    source: str | None = Field(
        default=None, description="Where the report came from (file name, s3:// URI, image)."
    )

    def label(self) -> str:
        """Short human description: `CVE-1 in openssl 3.0.1 (fixed in 3.0.2)`, `B602 at a.py:4`."""
        parts = [self.id]
        if self.is_secret:
            parts.append("(secret)")
        if self.package:
            pkg = self.package
            if self.installed_version:
                pkg += f" {self.installed_version}"
            parts.append(f"in {pkg}")
            parts.append(
                f"(fixed in {self.fixed_version})" if self.fixed_version else "(no fixed version)"
            )
        if self.location:
            parts.append(f"at {self.location}")
        return " ".join(parts)


class DeferredFinding(BaseModel):
    """A finding that does not block now but must be fixed by `due`."""

    finding: Finding
    due: date


class AppliedException(BaseModel):
    """A policy exception that waived findings in this verdict."""

    finding_id: str
    justification: str
    expires: date
    waived: int = Field(description="How many findings it waived.")


class ScanVerdict(BaseModel):
    """The gate's decision for one set of findings at one point in time."""

    passed: bool
    blocking: list[Finding] = Field(default_factory=list)
    deferred: list[DeferredFinding] = Field(default_factory=list)
    exceptions_applied: list[AppliedException] = Field(default_factory=list)
    warnings: list[str] = Field(
        default_factory=list,
        description="Things a person should know: expired or unused exceptions, waivers refused.",
    )
    counts: dict[Severity, int] = Field(
        default_factory=dict, description="Findings per severity, before the policy."
    )
    evaluated_at: datetime
    summary: str
