"""`monitor:` in a pipeline: checks run on a schedule, and what a failure does.

monitor:
  environment: production
  timezone: America/New_York
  business_hours: {days: [mon, tue, wed, thu, fri], start: 9, end: 18, every: 5m}
  off_hours: {every: 15m}
  checks:
    - {kind: http, name: health, url: "https://api.example.com/healthz"}
    - {kind: prometheus, name: sla, query: "avg_over_time(up[5m])", min: 0.999}
    - {kind: certificate, name: tls, host: api.example.com, min_days: 14}
    - {kind: dns, name: dns, host: api.example.com}
  on_failure:
    declare_incident: {severity: SEV-3, commander: oncall}
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rollway.durations import Duration
from rollway.fields import Person

DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # Temporal's day_of_week: 0 = Sunday
HOST_RE = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9-]{1,63})*$")
CHECK_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _every(v: timedelta, where: str) -> timedelta:
    minutes = v.total_seconds() / 60
    if minutes < 1 or minutes > 60 or 60 % minutes:
        raise ValueError(
            f"{where}.every {v} must divide an hour in whole minutes (1m, 5m, 15m, 30m, 60m)"
        )
    return v


Day = Literal["sun", "mon", "tue", "wed", "thu", "fri", "sat"]


def _weekdays() -> list[Day]:
    return ["mon", "tue", "wed", "thu", "fri"]


class BusinessHours(_Model):
    days: list[Day] = Field(default_factory=_weekdays, min_length=1)
    start: int = Field(default=9, ge=0, le=23, description="First hour (local) of business.")
    end: int = Field(default=18, ge=1, le=24, description="Hour (local) business ends.")
    every: Duration = timedelta(minutes=5)

    @model_validator(mode="after")
    def _order(self) -> BusinessHours:
        if self.end <= self.start:
            raise ValueError(f"business_hours: end ({self.end}) must be after start ({self.start})")
        _every(self.every, "business_hours")
        return self


class OffHours(_Model):
    every: Duration = timedelta(minutes=15)

    @model_validator(mode="after")
    def _check(self) -> OffHours:
        _every(self.every, "off_hours")
        return self


class _Check(_Model):
    name: str = Field(description="Short name shown in reports: lowercase, digits, '-'.")
    timeout: Duration = timedelta(seconds=10)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not CHECK_NAME_RE.match(v):
            raise ValueError(f"check name {v[:50]!r}: use lowercase letters, digits and '-'")
        return v


class HttpCheck(_Check):
    kind: Literal["http"]
    url: str
    expect_status: int = Field(default=200, ge=100, le=599)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not v.startswith(("https://", "http://")):
            raise ValueError(f"url {v[:80]!r} must start with https:// or http://")
        return v


class PrometheusCheck(_Check):
    kind: Literal["prometheus"]
    query: str = Field(min_length=1, max_length=2000)
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _bound(self) -> PrometheusCheck:
        if self.min is None and self.max is None:
            raise ValueError(f"check {self.name}: give min and/or max for the query's value")
        return self


class _HostCheck(_Check):
    host: str

    @field_validator("host")
    @classmethod
    def _host(cls, v: str) -> str:
        if not HOST_RE.match(v):
            raise ValueError(f"host {v[:80]!r} is not a DNS name or address")
        return v


class CertificateCheck(_HostCheck):
    kind: Literal["certificate"]
    port: int = Field(default=443, ge=1, le=65535)
    min_days: int = Field(default=14, ge=0, le=365)
    ca_file: str | None = Field(
        default=None, description="Trust these CAs (PEM) instead of the system's."
    )


class DnsCheck(_HostCheck):
    kind: Literal["dns"]


HealthCheck = Annotated[
    HttpCheck | PrometheusCheck | CertificateCheck | DnsCheck, Field(discriminator="kind")
]


class DeclareIncident(_Model):
    severity: str = Field(
        default="SEV-2",
        pattern=r"^SEV-[1-5]$",
        description="SEV-1/2 halt canaries and close the gate unless the policy says otherwise.",
    )
    commander: Person = Field(description="Who commands the incident (the on-call).")


class OnFailure(_Model):
    declare_incident: DeclareIncident | None = Field(
        default=None,
        description="Declare an incident in the environment's release control: it halts "
        "every promotion there until resolved.",
    )
    open_incidents: bool = Field(
        default=True, description="Also open the pipeline's `incidents:` (GitHub, PagerDuty)."
    )


class MonitorSpec(_Model):
    environment: str = "production"
    timezone: str = "UTC"
    business_hours: BusinessHours = Field(default_factory=BusinessHours)
    off_hours: OffHours = Field(default_factory=OffHours)
    checks: list[HealthCheck] = Field(min_length=1, max_length=30)
    on_failure: OnFailure = Field(default_factory=OnFailure)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            if len(v) > 64:
                raise ZoneInfoNotFoundError(v)
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise ValueError(
                f"timezone {v[:64]!r} is not an IANA time zone (e.g. America/New_York)"
            ) from None
        return v

    @model_validator(mode="after")
    def _unique(self) -> MonitorSpec:
        names = [c.name for c in self.checks]
        if dupes := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"check names must be unique: {', '.join(dupes)}")
        return self
