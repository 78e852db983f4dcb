"""The provider for a target (loads only the client library that target needs)."""

from __future__ import annotations

from rollway.notify.base import Provider
from rollway.notify.spec import NotificationTarget


def provider_for(target: NotificationTarget, index: int) -> Provider:
    if target.kind == "slack":
        from rollway.notify.slack import SlackProvider

        return SlackProvider(target, index)
    from rollway.notify.webhook import WebhookProvider

    return WebhookProvider(target, index)
