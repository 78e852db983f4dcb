"""Local servers speaking the GitHub issues REST API and PagerDuty's Events API v2.

Only what Rollway calls, with the real shapes: GitHub checks the bearer token and
the API version header, lists open issues filtered by labels and answers 201 with
`html_url`; PagerDuty checks the routing key, deduplicates by `dedup_key` and
answers 202 `{"status": "success", "dedup_key": …}`. `fail_with` makes either answer
an error status (e.g. 503) to test outages.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

GITHUB_TOKEN = "ghp_test_token_not_real_0123456789"
ROUTING_KEY = "R0UT1NGKEY0000000000000000000000"


@dataclass
class IncidentTools:
    url: str = ""
    issues: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    fail_with: int | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/repos/{owner}/{repo}/issues", self._list)
        app.router.add_post("/repos/{owner}/{repo}/issues", self._create)
        app.router.add_post("/v2/enqueue", self._enqueue)
        return app

    def _github_refusal(self, request: web.Request) -> web.Response | None:
        self.requests.append(f"{request.method} {request.path}")
        if self.fail_with is not None:
            return web.json_response({"message": "Service Unavailable"}, status=self.fail_with)
        if request.headers.get("Authorization") != f"Bearer {GITHUB_TOKEN}":
            return web.json_response({"message": "Bad credentials"}, status=401)
        if request.headers.get("X-GitHub-Api-Version") != "2022-11-28":
            return web.json_response({"message": "Unsupported API version"}, status=400)
        return None

    async def _list(self, request: web.Request) -> web.Response:
        if (refusal := self._github_refusal(request)) is not None:
            return refusal
        wanted = set(filter(None, request.query.get("labels", "").split(",")))
        repo = f"{request.match_info['owner']}/{request.match_info['repo']}"
        found = [
            i
            for i in self.issues
            if i["repository"] == repo
            and i["state"] == request.query.get("state", "open")
            and wanted <= {label["name"] for label in i["labels"]}
        ]
        return web.json_response(found)

    async def _create(self, request: web.Request) -> web.Response:
        if (refusal := self._github_refusal(request)) is not None:
            return refusal
        body = await request.json()
        if not body.get("title"):
            return web.json_response({"message": "Validation Failed"}, status=422)
        repo = f"{request.match_info['owner']}/{request.match_info['repo']}"
        number = len(self.issues) + 1
        issue = {
            "number": number,
            "repository": repo,
            "state": "open",
            "title": body["title"],
            "body": body.get("body", ""),
            "labels": [{"name": n} for n in body.get("labels", [])],
            "html_url": f"https://github.example/{repo}/issues/{number}",
        }
        self.issues.append(issue)
        return web.json_response(issue, status=201)

    async def _enqueue(self, request: web.Request) -> web.Response:
        self.requests.append(f"{request.method} {request.path}")
        if self.fail_with is not None:
            return web.json_response({"status": "unavailable"}, status=self.fail_with)
        event = await request.json()
        if event.get("routing_key") != ROUTING_KEY:
            return web.json_response(
                {"status": "invalid event", "message": "Event object is invalid"}, status=400
            )
        key = event.get("dedup_key") or f"auto-{len(self.events)}"
        if not any(e.get("dedup_key") == key for e in self.events):
            self.events.append(event)
        return web.json_response(
            {"status": "success", "message": "Event processed", "dedup_key": key}, status=202
        )


@asynccontextmanager
async def incident_tools() -> AsyncIterator[IncidentTools]:
    tools = IncidentTools()
    runner = web.AppRunner(tools.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    tools.url = f"http://127.0.0.1:{port}"
    try:
        yield tools
    finally:
        await runner.cleanup()
