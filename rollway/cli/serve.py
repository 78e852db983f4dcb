"""`rollway serve`: the HTTP service next to the worker that takes decisions from Slack."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from rollway.cli.common import UserError, connect, err, run, user_errors

SECRET_ENV = "SLACK_SIGNING_SECRET"


def _groups_file() -> Path:
    from rollway.home import home

    env = os.environ.get("ROLLWAY_GROUPS_FILE")
    return Path(env) if env else home() / "groups.yaml"


def serve(
    host: Annotated[str, typer.Option(help="Listen address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Listen port.")] = 8090,
    signing_secret_env: Annotated[
        str, typer.Option(help="Environment variable holding the Slack app's signing secret.")
    ] = SECRET_ENV,
) -> None:
    """Approve/Reject buttons from Slack: set the app's Interactivity URL to
    http(s)://<this host>/slack/actions. Requests must carry Slack's signature; the
    clicking user must be mapped in the groups file (`slack_users: {U0123ABCD: alice}`)."""
    import asyncio

    from aiohttp import web

    from rollway.notify.slack_actions import RequestGuard
    from rollway.notify.slack_app import PATH, slack_app
    from rollway.policy import GroupDirectory

    secret = os.environ.get(signing_secret_env, "").strip()
    with user_errors():
        if not secret:
            raise UserError(
                f"{signing_secret_env} is not set: copy the Slack app's signing secret "
                "(Basic Information → App Credentials) into it",
                2,
            )

    def directory() -> GroupDirectory:
        path = _groups_file()
        return (
            GroupDirectory.from_yaml_text(path.read_text()) if path.exists() else GroupDirectory()
        )

    async def main() -> None:
        client = await connect()
        runner = web.AppRunner(slack_app(client, RequestGuard(secret), directory))
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        err().print(f"Slack decisions on http://{host}:{port}{PATH} (groups: {_groups_file()})")
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    run(main())
