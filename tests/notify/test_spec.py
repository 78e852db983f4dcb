"""The `notifications:` section: valid targets, errors that name the field and the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rollway.notify.spec import EventKind
from rollway.spec_loader import SpecError, load_pipeline, parse_pipeline
from tests.support.promotions import pipeline

PIPELINES = Path(__file__).resolve().parents[2] / "pipelines"


def problems(notifications: Any) -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as e:
        parse_pipeline(pipeline(notifications=notifications))
    return e.value.problems


def test_a_slack_target_defaults_to_every_event_and_the_usual_token_variable() -> None:
    spec = parse_pipeline(
        pipeline(notifications=[{"kind": "slack", "channel": "#deploy-notifications"}])
    )
    (t,) = spec.notifications
    assert t.token_env == "SLACK_BOT_TOKEN" and t.events == list(EventKind)


def test_no_notifications_section_means_none() -> None:
    assert parse_pipeline(pipeline()).notifications == []


@pytest.mark.parametrize(
    ("target", "path", "says"),
    [
        (
            {"kind": "slack", "channel": "#a", "token": "xoxb-123"},
            "notifications[0].token",
            "name the variable instead (e.g. `token_env: SLACK_BOT_TOKEN`)",
        ),
        (
            {"kind": "webhook", "url": "https://hooks.example.com/x"},
            "notifications[0].url",
            "`url_env: DEPLOY_WEBHOOK_URL`",
        ),
        (
            {"kind": "slack", "channel": "#a", "token_env": "xoxb-123-456"},
            "notifications[0].token_env",
            "looks like the secret itself",
        ),
        (
            {"kind": "webhook", "url_env": "https://hooks.example.com/x"},
            "notifications[0].url_env",
            "e.g. DEPLOY_WEBHOOK_URL",
        ),
        ({"kind": "slack"}, "notifications[0].channel", "required for kind slack"),
        ({"kind": "slack", "channel": "deploys"}, "notifications[0].channel", '"#name"'),
        ({"kind": "webhook"}, "notifications[0].url_env", "required for kind webhook"),
        (
            {"kind": "webhook", "url_env": "HOOK", "channel": "#a"},
            "notifications[0].channel",
            "not a field of kind webhook",
        ),
        (
            {"kind": "slack", "channel": "#a", "events": ["started", "deployed"]},
            "notifications[0].events[1]",
            "'awaiting_approval'",
        ),
        (
            {"kind": "slack", "channel": "#a", "events": ["started", "started"]},
            "notifications[0].events",
            "listed twice: started",
        ),
        ({"kind": "slack", "channel": "#a", "timeout": "5m"}, "notifications[0].timeout", "1m"),
        (
            {"kind": "slack", "channel": "#a", "api_url": "http://slack.example.com/api/"},
            "notifications[0].api_url",
            "https://",
        ),
    ],
)
def test_bad_targets_name_the_field_and_the_fix(
    target: dict[str, Any], path: str, says: str
) -> None:
    ((where, message),) = problems([target])
    assert where == path and says in message, (where, message)


def test_the_same_target_twice_is_refused() -> None:
    ((where, message),) = problems([{"kind": "slack", "channel": "#a"}] * 2)
    assert where == "notifications[1]" and "notifications[0]" in message


def test_seed_004_announces_every_production_deploy_in_deploy_notifications() -> None:
    (slack,) = load_pipeline(PIPELINES / "novapay-payments.yaml").notifications
    assert slack.kind == "slack" and slack.channel == "#deploy-notifications"
    assert {"started", "promoted", "rolled_back", "failed"} <= set(slack.events)


@pytest.mark.parametrize(
    ("seed", "must"),
    [
        ("api-gateway", {"failed", "rolled_back", "promoted"}),  # 001: staging failed, rollback
        ("orders-api", {"promoted", "failed"}),  # 003: deployed, deployment failed
    ],
)
def test_seed_pipelines_notify_what_their_documents_ask(seed: str, must: set[str]) -> None:
    targets = load_pipeline(PIPELINES / f"{seed}.yaml").notifications
    assert must <= {e.value for t in targets if t.kind == "slack" for e in t.events}
