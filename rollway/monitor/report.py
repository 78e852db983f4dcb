"""Payloads of the health monitor (workflow input, activity results)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from rollway.incidents.spec import IncidentsSpec
from rollway.monitor.spec import HealthCheck, MonitorSpec
from rollway.release_control import DeclareIncidentInput


class MonitorInput(BaseModel):
    """What one scheduled run checks, and where a failure goes."""

    service: str
    monitor: MonitorSpec
    incidents: IncidentsSpec | None = None
    release_control: str | None = Field(
        default=None, description="Release-control workflow id; default release-control-<env>."
    )


class ChecksInput(BaseModel):
    checks: list[HealthCheck]


class CheckResult(BaseModel):
    name: str
    kind: str
    ok: bool
    detail: str = Field(default="", max_length=600)


class CheckResults(BaseModel):
    results: list[CheckResult]


class DeclareMonitorIncident(BaseModel):
    """Activity `declare_monitor_incident`: the incident, and the release control to tell."""

    control_id: str
    environment: str
    incident: DeclareIncidentInput


class MonitorReport(BaseModel):
    service: str
    environment: str
    checked_at: datetime
    results: list[CheckResult]
    incident: str = Field(default="", description="What the failure did (declared, already…).")

    @property
    def healthy(self) -> bool:
        return all(r.ok for r in self.results)
