"""Payloads of the `migrate` activity: variable names travel, database URLs never do."""

from __future__ import annotations

from pydantic import BaseModel, Field

from rollway.spec import MigrationsSpec


class MigrateInput(BaseModel):
    """Migrate `environment`'s database; the guard reads production's ledger."""

    service: str
    version: str
    environment: str
    production: str = Field(description="The environment whose ledger decides contracts.")
    migrations: MigrationsSpec
    pipeline_dir: str = "."
    applied_by: str = Field(default="", description="Recorded with each applied migration.")


class Refusal(BaseModel):
    """One statement the guard refused: where, what, and how to fix it."""

    file: str
    statement: str
    problem: str
    fix: str

    def describe(self) -> str:
        return f"{self.file}: {self.problem} in `{self.statement}`; {self.fix}"


class MigrateResult(BaseModel):
    """What a migration run did; `refusals` non-empty means nothing was applied."""

    environment: str
    applied: list[str] = Field(default_factory=list, description="Files applied by this run.")
    already_applied: int = 0
    command_ran: bool = False
    refusals: list[Refusal] = Field(default_factory=list)
    command_tail: str = ""

    @property
    def refused(self) -> bool:
        return bool(self.refusals)

    def summary(self) -> str:
        if self.refusals:
            return "; ".join(r.describe() for r in self.refusals)
        parts = [
            f"applied {len(self.applied)} migration(s)"
            + (f" ({', '.join(self.applied)})" if self.applied else ""),
            f"{self.already_applied} already applied",
        ]
        if self.command_ran:
            parts.append("migration command ran")
        return f"{self.environment}: " + ", ".join(parts)
