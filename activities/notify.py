"""The `notify` activity: one event to one target, at most once, never failing the promotion.

The workflow treats a failure as a warning in the timeline; here a failure is
retryable (Slack down, 429 past its Retry-After, 5xx) or final (bad token, unknown
channel, the secret not set on the worker). Secrets are read from the worker's
environment by the provider and never appear in results, heartbeats or errors.
"""

from __future__ import annotations

from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from rollway.notify.base import Attempt, NotifyError
from rollway.notify.events import NotifyInput, NotifyResult
from rollway.notify.providers import provider_for


def _progress() -> dict[str, str]:
    """What an earlier attempt of this delivery recorded (its heartbeat details)."""
    details: tuple[Any, ...] = tuple(activity.info().heartbeat_details)
    first = details[0] if details else None
    return {str(k): str(v) for k, v in first.items()} if isinstance(first, dict) else {}


@activity.defn(name="notify")
def notify(inp: NotifyInput) -> NotifyResult:
    """Deliver `inp.event` to `inp.target`; a retry checks what an earlier attempt sent."""
    attempt = Attempt(
        retry=activity.info().attempt > 1,
        progress=_progress(),
        record=lambda progress: activity.heartbeat(progress),
    )
    try:
        result = provider_for(inp.target, inp.target_index).send(inp, attempt)
    except NotifyError as e:
        raise ApplicationError(
            str(e), type="NotificationFailed", non_retryable=not e.retryable
        ) from None
    activity.logger.info(
        "notified %s of %s #%d%s",
        inp.target.label(),
        inp.event.kind.value,
        inp.event.seq,
        " (already delivered)" if result.deduplicated else "",
    )
    return result
