"""The provider interface, its error, and secrets read from the worker's environment."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from rollway.notify.events import NotifyInput, NotifyResult
from rollway.security.redact import redact


class NotifyError(Exception):
    """A delivery failed; `retryable` says whether trying again may help."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(redact(message))
        self.retryable = retryable


@dataclass
class Attempt:
    """What a provider knows about this delivery's earlier attempts.

    `retry` is true from the second attempt on: an earlier one may have delivered
    before failing, so the provider checks before sending again. `progress` is what
    an earlier attempt recorded (heartbeat details); `record` records more.
    """

    retry: bool = False
    progress: dict[str, str] = field(default_factory=dict)
    record: Callable[[dict[str, str]], None] = lambda _: None


class Provider(Protocol):
    """Delivers one event to one target, at most once per `inp.key`."""

    def send(self, inp: NotifyInput, attempt: Attempt) -> NotifyResult: ...


def secret(name: str | None, where: str) -> str:
    """The value of the worker's environment variable `name` (never logged or returned)."""
    value = os.environ.get(name or "", "").strip()
    if not name or not value:
        raise NotifyError(
            f"{where}: the environment variable {name or '(none)'} is not set on the worker; "
            "set it where the worker runs (the pipeline only names it)",
            retryable=False,
        )
    return value


def jsonable(model: Any) -> dict[str, Any]:
    """A payload model as JSON-ready data."""
    data: dict[str, Any] = model.model_dump(mode="json")
    return data
