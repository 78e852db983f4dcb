"""The pipeline's `notifications:` section: where each event goes, secrets by name only.

```yaml
notifications:
  - kind: slack
    channel: "#deploy-notifications"
    token_env: SLACK_BOT_TOKEN          # the variable in the worker's environment
    events: [started, awaiting_approval, promoted, rolled_back, failed]
  - kind: webhook
    url_env: DEPLOY_WEBHOOK_URL
```

One flat model per target (not a tagged union) so every error names the path the
user wrote, e.g. `notifications[0].channel`.
"""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from rollway.durations import Duration, at_most


class EventKind(StrEnum):
    """What happened to a promotion, as a notification."""

    STARTED = "started"
    AWAITING_APPROVAL = "awaiting_approval"
    GATE_WAITING = "gate_waiting"
    CANARY_STEP = "canary_step"
    PAUSED = "paused"
    ROLLBACK_STUCK = "rollback_stuck"
    ROLLED_BACK = "rolled_back"
    PROMOTED = "promoted"
    FAILED = "failed"
    ENDED = "ended"  # rejected, aborted or superseded


ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
CHANNEL_RE = re.compile(r"^(#[a-z0-9][a-z0-9_-]{0,79}|[CGD][A-Z0-9]{8,20})$")
SECRET_KEYS = {"token", "url", "webhook", "webhook_url", "secret", "password"}
SLACK_ONLY = ("channel", "token_env", "api_url", "interactive")
WEBHOOK_ONLY = ("url_env",)
MAX_TARGETS = 10


class NotificationTarget(BaseModel):
    """One place notifications go: a Slack channel or a JSON webhook."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["slack", "webhook"] = Field(description="`slack` or `webhook`.")
    events: list[EventKind] = Field(
        default_factory=lambda: list(EventKind),
        min_length=1,
        description="The events sent here (default: all of them).",
    )
    channel: str | None = Field(
        default=None,
        description="Slack: `#channel-name` or a channel id (`C0123ABCD`); the bot must be "
        "a member.",
    )
    token_env: str | None = Field(
        default=None,
        description="Slack: the worker's environment variable holding the bot token "
        "(default SLACK_BOT_TOKEN). Never the token itself.",
    )
    api_url: str | None = Field(
        default=None,
        description="Slack: the Web API base URL (default https://slack.com/api/; GovSlack "
        "or a test server).",
    )
    interactive: bool | None = Field(
        default=None,
        description="Slack: Approve/Reject buttons on the awaiting-approval reply, handled by "
        "`rollway serve` (the Slack app's Interactivity URL).",
    )
    url_env: str | None = Field(
        default=None,
        description="Webhook: the worker's environment variable holding the URL to POST to "
        "(URLs carry credentials, so the URL is a secret).",
    )
    timeout: Annotated[Duration, at_most(timedelta(minutes=1), "timeout")] = Field(
        default=timedelta(seconds=10), description="Per HTTP request (at most 1m)."
    )

    @model_validator(mode="before")
    @classmethod
    def _no_literal_secrets(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in sorted(SECRET_KEYS & set(data)):
                name = (
                    "url_env: DEPLOY_WEBHOOK_URL" if "url" in key else "token_env: SLACK_BOT_TOKEN"
                )
                raise ValueError(
                    f"@{key}: secrets are never written in a pipeline: put the value in the "
                    f"worker's environment and name the variable instead (e.g. `{name}`)"
                )
        return data

    @field_validator("token_env", "url_env")
    @classmethod
    def _env_name(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is None:
            return v
        if v.startswith(("xox", "http://", "https://")):
            example = "SLACK_BOT_TOKEN" if info.field_name == "token_env" else "DEPLOY_WEBHOOK_URL"
            raise ValueError(
                "this looks like the secret itself: name the environment variable that holds "
                f"it (e.g. {example}) and set that variable on the worker"
            )
        if not ENV_NAME_RE.match(v):
            raise ValueError(
                f"'{v[:64]}' is not an environment variable name (letters, digits, '_')"
            )
        return v

    @field_validator("events")
    @classmethod
    def _unique(cls, v: list[EventKind]) -> list[EventKind]:
        twice = sorted({e.value for e in v if v.count(e) > 1})
        if twice:
            raise ValueError(f"listed twice: {', '.join(twice)}")
        return v

    @field_validator("api_url")
    @classmethod
    def _api_url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise ValueError("must be an https:// URL (plain http only for 127.0.0.1/localhost)")
        return v

    @model_validator(mode="after")
    def _fields_of_kind(self) -> NotificationTarget:
        other = WEBHOOK_ONLY if self.kind == "slack" else SLACK_ONLY
        for name in other:
            if getattr(self, name) is not None:
                raise ValueError(f"@{name}: not a field of kind {self.kind}")
        if self.kind == "slack":
            if self.channel is None:
                raise ValueError('@channel: required for kind slack (e.g. "#deploy-notifications")')
            if not CHANNEL_RE.match(self.channel):
                raise ValueError(
                    f"@channel: '{self.channel[:80]}' is not a Slack channel: write "
                    '"#name" (quoted in YAML: # starts a comment) or a channel id like C0123ABCD'
                )
            if self.token_env is None:
                self.token_env = "SLACK_BOT_TOKEN"
        elif self.url_env is None:
            raise ValueError(
                "@url_env: required for kind webhook: the environment variable holding the URL "
                "(e.g. DEPLOY_WEBHOOK_URL)"
            )
        return self

    def label(self) -> str:
        """How the timeline names this target (never a secret)."""
        return f"slack {self.channel}" if self.kind == "slack" else f"webhook ${self.url_env}"


def check_targets(targets: list[NotificationTarget]) -> list[NotificationTarget]:
    """At most `MAX_TARGETS`, each named once."""
    if len(targets) > MAX_TARGETS:
        raise ValueError(f"at most {MAX_TARGETS} notification targets (got {len(targets)})")
    seen: dict[str, int] = {}
    for i, t in enumerate(targets):
        if (first := seen.setdefault(t.label(), i)) != i:
            raise ValueError(f"@[{i}]: the same target as notifications[{first}] ({t.label()})")
    return targets
