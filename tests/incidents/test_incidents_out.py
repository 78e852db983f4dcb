"""Incidents out: a rolled-back canary opens a GitHub issue and a PagerDuty alert, once.

Local servers speak the real APIs (tests/support/incident_tools.py); the real
`open_incident` activity runs inside the time-skipping test's worker.
"""

from __future__ import annotations

from asyncio import to_thread
from typing import Any

import pytest
from temporalio.client import Client

from rollway.incidents.report import IncidentReport
from rollway.incidents.sinks import SinkError, github_issue, pagerduty_alert
from rollway.incidents.spec import GitHubIssueSink, PagerDutySink
from rollway.models import ApprovalInput, Outcome, Stage
from rollway.spec_loader import SpecError, parse_pipeline
from tests.histories.record import save_history
from tests.support.fake_world import FakeWorld
from tests.support.incident_tools import GITHUB_TOKEN, ROUTING_KEY, incident_tools
from tests.support.promotions import pipeline, running, wait_until

SECRETS = {"GITHUB_TOKEN": GITHUB_TOKEN, "PAGERDUTY_ROUTING_KEY": ROUTING_KEY}


def _sinks(url: str) -> list[dict[str, Any]]:
    return [
        {"kind": "github", "repository": "acme/payments", "api_url": url},
        {"kind": "pagerduty", "events_url": url, "severity": "critical"},
    ]


def _report(key: str = "promote-demo-1/rolled_back") -> IncidentReport:
    return IncidentReport(
        service="demo", environment="production", title="demo v2 rolled back", dedup_key=key
    )


async def test_opening_twice_opens_once() -> None:
    async with incident_tools() as tools:
        gh = GitHubIssueSink(kind="github", repository="acme/payments", api_url=tools.url)
        pd = PagerDutySink(kind="pagerduty", events_url=tools.url)
        # The sinks are synchronous (activities run in a thread): off this server's loop.
        first = await to_thread(github_issue, gh, _report(), SECRETS)
        again = await to_thread(github_issue, gh, _report(), SECRETS)
        other = await to_thread(github_issue, gh, _report("promote-demo-2/rolled_back"), SECRETS)
        assert (first.status, again.status, other.status) == ("opened", "existing", "opened")
        assert first.link == again.link != other.link
        assert len(tools.issues) == 2
        assert (await to_thread(pagerduty_alert, pd, _report(), SECRETS)).status == "opened"
        assert (await to_thread(pagerduty_alert, pd, _report(), SECRETS)).status == "opened"
        assert [e["dedup_key"] for e in tools.events] == ["promote-demo-1/rolled_back"]


async def test_a_missing_secret_is_a_clear_refusal_not_a_retry() -> None:
    async with incident_tools() as tools:
        gh = GitHubIssueSink(kind="github", repository="acme/payments", api_url=tools.url)
        with pytest.raises(SinkError) as err:
            github_issue(gh, _report(), {})
        assert not err.value.retryable
        assert "no GITHUB_TOKEN in its environment" in str(err.value)
        assert tools.requests == []  # nothing sent without credentials


def test_secrets_are_named_never_given() -> None:
    spec = pipeline(
        incidents={
            "open": [
                {
                    "kind": "github",
                    "repository": "acme/payments",
                    "token_env": "ghp_abc123secretvalue",
                }
            ]
        }
    )
    with pytest.raises(SpecError) as err:
        parse_pipeline(spec)
    assert "token_env" in str(err.value) and "environment variable" in str(err.value)


async def test_a_rolled_back_canary_opens_an_issue_and_an_alert(
    ts_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    async with incident_tools() as tools:
        world = FakeWorld(verdicts=["fail", "fail"])
        spec = pipeline(incidents={"open": _sinks(tools.url)})
        async with running(ts_client, world, spec) as h:
            await wait_until(h, lambda s: s.stage == Stage.APPROVAL)
            await h.signal("approve", ApprovalInput(by="alice"))
            result = await h.result()
            save_history(await h.fetch_history(), "timeskip-rolled-back-opens-incidents")
        assert result.outcome == Outcome.ROLLED_BACK
        assert world.calls.count("open_incident") == 1
        [issue] = tools.issues
        assert issue["title"] == "demo v2 rolled back in production"
        assert (
            "analysis failed" in issue["body"]
            and f"rollway:dedup={h.id}/rolled_back" in issue["body"]
        )
        [event] = tools.events
        assert event["payload"]["severity"] == "critical"
        assert event["dedup_key"] == f"{h.id}/rolled_back"
        assert GITHUB_TOKEN not in str(result.state) and ROUTING_KEY not in str(result.state)
        messages = [e.message for e in result.state.timeline] if result.state else []
        assert any("incident opened in github acme/payments" in m for m in messages), messages


async def test_a_tool_that_stays_down_never_changes_the_outcome(
    ts_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    async with incident_tools() as tools:
        tools.fail_with = 503
        world = FakeWorld(verdicts=["fail", "fail"])
        async with running(ts_client, world, pipeline(incidents={"open": _sinks(tools.url)})) as h:
            await wait_until(h, lambda s: s.stage == Stage.APPROVAL)
            await h.signal("approve", ApprovalInput(by="alice"))
            result = await h.result()
        assert result.outcome == Outcome.ROLLED_BACK
        assert world.calls.count("open_incident") == 6  # bounded: options.INCIDENT
        messages = [e.message for e in result.state.timeline] if result.state else []
        assert any(
            "warning: could not open an incident" in m and "HTTP 503" in m for m in messages
        ), messages


async def test_a_promoted_canary_opens_nothing(
    ts_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with incident_tools() as tools:
        world = FakeWorld()
        async with running(ts_client, world, pipeline(incidents={"open": _sinks(tools.url)})) as h:
            await wait_until(h, lambda s: s.stage == Stage.APPROVAL)
            await h.signal("approve", ApprovalInput(by="alice"))
            result = await h.result()
        assert result.outcome == Outcome.PROMOTED
        assert "open_incident" not in world.calls and tools.requests == []
