"""What an incident says, whichever tool receives it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from rollway.fields import Text
from rollway.incidents.spec import IncidentSink


class IncidentReport(BaseModel):
    """One incident to open. `dedup_key` makes opening it twice open it once."""

    service: str
    environment: str
    title: str = Field(max_length=200)
    summary: Text = ""
    source: Literal["canary", "monitor", "rollback"] = "canary"
    dedup_key: str = Field(
        min_length=1,
        max_length=255,
        description="Same key, same incident: the workflow id (and event) that raised it.",
    )
    details: dict[str, str] = Field(default_factory=dict, max_length=30)


class SinkResult(BaseModel):
    """What one sink did: `opened` (with a link), `existing` (deduplicated) or `failed`."""

    sink: str
    status: Literal["opened", "existing", "failed"]
    link: str = ""
    error: str = ""


class OpenIncidentInput(BaseModel):
    """Activity `open_incident`'s input: the sinks (secrets named, never given), what to say."""

    sinks: list[IncidentSink] = Field(min_length=1)
    report: IncidentReport


class OpenIncidentResult(BaseModel):
    results: list[SinkResult]
