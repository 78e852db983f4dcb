"""Block Kit for a promotion: the message kept up to date, and one reply per event.

Built with slack-sdk's Block Kit models, so shapes and limits are the SDK's.
Text from the promotion (reasons, metric messages) is escaped for mrkdwn.
"""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from rollway.metrics.results import MetricResult
from rollway.notify.events import NotificationEvent
from rollway.notify.slack_actions import APPROVE_ACTION, REJECT_ACTION
from rollway.notify.spec import EventKind

ICONS = {
    "running": ":hourglass_flowing_sand:",
    "promoted": ":white_check_mark:",
    "rolled_back": ":leftwards_arrow_with_hook:",
    "failed": ":x:",
    "rejected": ":no_entry:",
    "aborted": ":octagonal_sign:",
    "superseded": ":fast_forward:",
}
EVENT_ICONS = {
    EventKind.STARTED: ":rocket:",
    EventKind.AWAITING_APPROVAL: ":raising_hand:",
    EventKind.GATE_WAITING: ":vertical_traffic_light:",
    EventKind.CANARY_STEP: ":hatching_chick:",
    EventKind.PAUSED: ":double_vertical_bar:",
    EventKind.ROLLBACK_STUCK: ":rotating_light:",
    EventKind.ROLLED_BACK: ":leftwards_arrow_with_hook:",
    EventKind.PROMOTED: ":white_check_mark:",
    EventKind.FAILED: ":x:",
    EventKind.ENDED: ":octagonal_sign:",
}
MAX_TEXT = 2900  # Slack allows 3000 characters in a section's text
MAX_FIELDS = 10


def escape(text: str) -> str:
    """Slack mrkdwn control characters (`&`, `<`, `>`) escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def headline(e: NotificationEvent) -> str:
    return f"{e.service} {e.version} → {e.environment}"


def thread_message(e: NotificationEvent) -> tuple[str, list[dict[str, Any]]]:
    """The promotion's message: what, where, and its status now (updated in place)."""
    icon = ICONS.get(e.outcome, ICONS["running"])
    blocks: list[Block] = [
        HeaderBlock(text=_cut(headline(e), 150)),
        SectionBlock(text=MarkdownTextObject(text=_cut(f"{icon} {escape(e.summary)}"))),
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text=f"commit `{e.commit[:12]}` · promotion `{escape(e.workflow_id)}`"
                )
            ]
        ),
    ]
    return f"{headline(e)}: {e.summary}", [b.to_dict() for b in blocks]


def event_message(
    e: NotificationEvent, interactive: bool = False
) -> tuple[str, list[dict[str, Any]]]:
    """One event, as a reply in the promotion's thread (with Approve/Reject buttons when
    it awaits approval and the target is `interactive`)."""
    title = f"{EVENT_ICONS.get(e.kind, '')} *{escape(e.title)}*".strip()
    body = f"{title}\n{escape(e.text)}" if e.text else title
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=_cut(body)))]
    fields = [
        MarkdownTextObject(text=_cut(f"*{escape(k)}*\n{escape(v)}", 1900))
        for k, v in list(e.details.items())[:MAX_FIELDS]
    ]
    if fields:
        blocks.append(SectionBlock(fields=fields))
    if e.metrics:
        lines = "\n".join(f"• {metric_line(m)}" for m in e.metrics)
        blocks.append(SectionBlock(text=MarkdownTextObject(text=_cut(f"*Metrics*\n{lines}"))))
    if e.command:
        blocks.append(
            SectionBlock(text=MarkdownTextObject(text=_cut(f"Run: `{escape(e.command)}`")))
        )
    if interactive and e.kind == EventKind.AWAITING_APPROVAL:
        blocks.append(approval_buttons(e.workflow_id))
    fallback = f"{e.title}" + (f": {e.text}" if e.text else "")
    return _cut(fallback), [b.to_dict() for b in blocks]


def approval_buttons(workflow_id: str) -> ActionsBlock:
    """Approve/Reject for `rollway serve`; the value names the promotion, never a person."""
    return ActionsBlock(
        block_id="rollway_decision",
        elements=[
            ButtonElement(
                text="Approve", action_id=APPROVE_ACTION, value=workflow_id, style="primary"
            ),
            ButtonElement(
                text="Reject", action_id=REJECT_ACTION, value=workflow_id, style="danger"
            ),
        ],
    )


def metric_line(m: MetricResult) -> str:
    """`error-rate` 0.12 (max 0.01; stable 0.001): why."""
    bounds = [
        f"min {m.min:g}" if m.min is not None else "",
        f"max {m.max:g}" if m.max is not None else "",
    ]
    if m.baseline is not None:
        bounds.append(f"stable {m.baseline:g}")
    value = f"{m.value:g}" if m.value is not None else "no value"
    bound = "; ".join(b for b in bounds if b)
    line = f"`{escape(m.name)}` {value}" + (f" ({bound})" if bound else "")
    return line + (f": {escape(m.message)}" if m.message else "")
