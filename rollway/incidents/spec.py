"""Where a pipeline opens incidents: `incidents:` in the pipeline spec.

    incidents:
      - kind: github
        repository: acme/payments          # owner/name
        token_env: GITHUB_TOKEN            # the worker's environment variable, never the token
        labels: [incident, rollway]
      - kind: pagerduty
        routing_key_env: PAGERDUTY_ROUTING_KEY
        severity: critical

Secrets are named, not given: the activity reads them from the worker's
environment, so they never enter a workflow payload or history.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

ENV_NAME_RE = re.compile(r"^[A-Z_][A-Z0-9_]{0,127}$")
REPOSITORY_RE = re.compile(r"^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$")
LABEL_MAX = 50


def _env_name(value: str, field: str) -> str:
    if not ENV_NAME_RE.match(value):
        raise ValueError(
            f"{field} {value[:60]!r} must name an environment variable of the worker "
            "(upper-case letters, digits and '_', e.g. GITHUB_TOKEN), not hold the secret"
        )
    return value


def _endpoint(value: str, field: str) -> str:
    if not value.startswith(("https://", "http://127.0.0.1", "http://localhost")):
        raise ValueError(f"{field} {value[:80]!r} must be https:// (plain http only on loopback)")
    return value.rstrip("/")


class _Sink(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GitHubIssueSink(_Sink):
    """An issue in a GitHub repository (REST API `POST /repos/{owner}/{repo}/issues`)."""

    kind: Literal["github"]
    repository: str = Field(description="owner/name, e.g. acme/payments.")
    token_env: str = Field(
        default="GITHUB_TOKEN", description="Worker environment variable holding the token."
    )
    api_url: str = Field(
        default="https://api.github.com", description="GitHub Enterprise: https://HOST/api/v3."
    )
    labels: list[Annotated[str, Field(min_length=1, max_length=LABEL_MAX)]] = Field(
        default_factory=lambda: ["incident", "rollway"], max_length=10
    )

    @field_validator("repository")
    @classmethod
    def _repository(cls, v: str) -> str:
        if not REPOSITORY_RE.match(v):
            raise ValueError(f"repository {v[:80]!r} must be owner/name, e.g. acme/payments")
        return v

    @field_validator("token_env")
    @classmethod
    def _token_env(cls, v: str) -> str:
        return _env_name(v, "token_env")

    @field_validator("api_url")
    @classmethod
    def _api_url(cls, v: str) -> str:
        return _endpoint(v, "api_url")


class PagerDutySink(_Sink):
    """A PagerDuty alert (Events API v2 `POST /v2/enqueue`, `event_action: trigger`)."""

    kind: Literal["pagerduty"]
    routing_key_env: str = Field(
        default="PAGERDUTY_ROUTING_KEY",
        description="Worker environment variable holding the integration's routing key.",
    )
    events_url: str = Field(default="https://events.pagerduty.com")
    severity: Literal["critical", "error", "warning", "info"] = "error"

    @field_validator("routing_key_env")
    @classmethod
    def _routing_key_env(cls, v: str) -> str:
        return _env_name(v, "routing_key_env")

    @field_validator("events_url")
    @classmethod
    def _events_url(cls, v: str) -> str:
        return _endpoint(v, "events_url")


IncidentSink = Annotated[GitHubIssueSink | PagerDutySink, Field(discriminator="kind")]


IncidentOutcome = Literal["rolled_back", "failed"]


def _rolled_back() -> list[IncidentOutcome]:
    return ["rolled_back"]


class IncidentsSpec(BaseModel):
    """When a promotion opens incidents, and where."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    when: list[IncidentOutcome] = Field(
        default_factory=_rolled_back,
        description="Outcomes that open an incident: rolled_back (the canary was worse), "
        "failed (including a rollback that never got through).",
    )
    open: list[IncidentSink] = Field(
        min_length=1, max_length=5, description="Where: github and/or pagerduty entries."
    )
