"""Payloads of the `run_check` activity and the checks gate's verdict."""

from __future__ import annotations

from pydantic import BaseModel, Field

from rollway.spec import CheckSuite


class CheckInput(BaseModel):
    service: str
    version: str
    commit: str
    artifact: str = ""
    suite: CheckSuite
    pipeline_dir: str = "."


class CheckResult(BaseModel):
    """One suite's outcome as measured; the gate decides what blocks."""

    name: str
    exit_code: int | None = Field(default=None, description="None: reports only, or killed.")
    timed_out: bool = False
    tests: int = 0
    failures: list[str] = Field(default_factory=list, description="Failed tests (not quarantined).")
    quarantined: list[str] = Field(
        default_factory=list, description="Quarantined tests that failed (not blocking)."
    )
    skipped: int = 0
    coverage: dict[str, float] = Field(default_factory=dict, description="Component -> %.")
    problems: list[str] = Field(default_factory=list, description="Missing or broken reports.")
    log_tail: str = Field(default="", description="Redacted.")
    seconds: float = 0.0


class ChecksVerdict(BaseModel):
    passed: bool
    summary: str
    lines: list[str] = Field(default_factory=list)
