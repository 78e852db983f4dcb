"""The `rollway` command line: one typer app, commands grouped by module."""

from __future__ import annotations

import typer

from rollway.cli import actions, demo, promote, release, spec_cmds, stack_cmds, status
from rollway.cli import codec_server as codec_server_cmd
from rollway.cli import sign as sign_cmd

app = typer.Typer(
    name="rollway",
    help="Progressive delivery on Temporal: build, scan, stage, approve, canary, promote.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

app.command(rich_help_panel="Stack")(stack_cmds.up)
app.command(rich_help_panel="Stack")(stack_cmds.down)
app.command(rich_help_panel="Stack")(stack_cmds.worker)
app.command(rich_help_panel="Promotions")(promote.promote)
app.command(rich_help_panel="Promotions")(status.status)
for cmd in (
    actions.approve,
    actions.reject,
    actions.rollback,
    actions.abort,
    actions.pause,
    actions.resume,
):
    app.command(rich_help_panel="Decisions")(cmd)
app.add_typer(release.incident, name="incident", rich_help_panel="Release control")
for release_cmd in (release.freeze, release.unfreeze, release.override, release.audit):
    app.command(rich_help_panel="Release control")(release_cmd)
app.command(rich_help_panel="Decisions")(sign_cmd.sign)
app.command(rich_help_panel="Pipelines")(spec_cmds.validate)
app.command(rich_help_panel="Pipelines")(spec_cmds.schema)
app.command(rich_help_panel="Demo")(demo.demo)
app.command(rich_help_panel="Stack")(codec_server_cmd.codec_server)

if __name__ == "__main__":
    app()
