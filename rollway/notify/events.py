"""What the `notify` activity carries: the event, the target, the idempotency key.

Payloads only (pydantic, no client library), so the workflow sandbox can load them.
No secret is ever part of them: a target names the environment variable that holds
its token or URL, and the activity reads it from the worker's environment.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from rollway.metrics.results import MetricResult
from rollway.notify.spec import EventKind, NotificationTarget


class NotificationEvent(BaseModel):
    """One thing that happened to one promotion, ready for any provider to render."""

    kind: EventKind
    seq: int = Field(description="The event's number within its promotion (1, 2, …).")
    at: datetime
    workflow_id: str
    service: str
    version: str
    commit: str
    environment: str = Field(description="The production environment the canary runs in.")
    title: str = Field(description="One line, e.g. 'Canary at 25% (step 2 of 3)'.")
    text: str = Field(default="", description="What happened and why, in a sentence or two.")
    summary: str = Field(description="The promotion's status now, for the message kept updated.")
    outcome: str = "running"
    details: dict[str, str] = Field(
        default_factory=dict, description="Labelled facts: weight, approvers, next opening…"
    )
    command: str | None = Field(default=None, description="The exact command to act on it.")
    metrics: list[MetricResult] = Field(
        default_factory=list, description="Rolled back: the metrics that failed."
    )


class SlackThread(BaseModel):
    """The promotion's Slack message: its channel id and `ts`; events reply in its thread."""

    channel: str
    ts: str


class NotifyInput(BaseModel):
    """One event for one target. `key` is the same on every retry of this delivery."""

    target: NotificationTarget
    target_index: int = Field(description="Its position in the pipeline's `notifications:`.")
    event: NotificationEvent
    key: str = Field(description="Idempotency key: workflow id, run id and event sequence.")
    thread_key: str = Field(description="Idempotency key of the promotion's Slack message.")
    thread: SlackThread | None = Field(
        default=None, description="Slack: the promotion's message, once posted."
    )


class NotifyResult(BaseModel):
    """What was delivered; `thread` for Slack (the workflow keeps it for the next event)."""

    delivered: bool = True
    thread: SlackThread | None = None
    deduplicated: bool = Field(
        default=False, description="A retry found the event already delivered; nothing resent."
    )
    detail: str = ""
