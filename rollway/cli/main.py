"""The `rollway` command line: one typer app, commands grouped by module.

The command modules import the Temporal SDK and the pipeline models inside their
commands, so `rollway --help` and `rollway validate` start without them.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from rollway import __version__
from rollway.cli import (
    actions,
    demo,
    dora,
    listing,
    namespace,
    promote,
    release,
    rollback_cmd,
    spec_cmds,
    stack_cmds,
    status,
)
from rollway.cli import codec_server as codec_server_cmd
from rollway.cli import monitor as monitor_cmd
from rollway.cli import serve as serve_cmd
from rollway.cli import sign as sign_cmd
from rollway.cli.common import set_overrides
from rollway.connection import Overrides

app = typer.Typer(
    name="rollway",
    help="Progressive delivery on Temporal: build, scan, stage, approve, canary, promote.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"rollway {__version__}")
        raise typer.Exit()


@app.callback()
def global_options(
    address: Annotated[
        str | None,
        typer.Option(
            "--address",
            help="Temporal host:port (default: TEMPORAL_ADDRESS, the profile, "
            "ROLLWAY_TEMPORAL_ADDRESS, then `rollway up`'s server).",
            show_default=False,
        ),
    ] = None,
    namespace_: Annotated[
        str | None,
        typer.Option(
            "--namespace",
            "-n",
            help="Temporal namespace (default: TEMPORAL_NAMESPACE, the profile, then default).",
            show_default=False,
        ),
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            help="Profile of Temporal's config file (TEMPORAL_CONFIG_FILE, else "
            "~/.config/temporalio/temporal.toml); default: TEMPORAL_PROFILE, then default.",
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", "-V", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Progressive delivery on Temporal: build, scan, stage, approve, canary, promote."""
    set_overrides(Overrides(address=address, namespace=namespace_, profile=profile))


app.command(rich_help_panel="Stack")(stack_cmds.up)
app.command(rich_help_panel="Stack")(stack_cmds.down)
app.command(rich_help_panel="Stack")(stack_cmds.worker)
app.command("setup-namespace", rich_help_panel="Stack")(namespace.setup_namespace)
app.command(rich_help_panel="Promotions")(promote.promote)
app.command("list", rich_help_panel="Promotions")(listing.list_promotions)
app.command(rich_help_panel="Promotions")(status.status)
app.command(rich_help_panel="Promotions")(status.get)
app.command(rich_help_panel="Promotions")(dora.dora)
for cmd in (
    actions.approve,
    actions.reject,
    rollback_cmd.rollback,
    actions.abort,
    actions.pause,
    actions.resume,
):
    app.command(rich_help_panel="Decisions")(cmd)
app.add_typer(release.incident, name="incident", rich_help_panel="Release control")
app.add_typer(monitor_cmd.monitor, name="monitor", rich_help_panel="Release control")
for release_cmd in (release.freeze, release.unfreeze, release.override, release.audit):
    app.command(rich_help_panel="Release control")(release_cmd)
app.command(rich_help_panel="Decisions")(sign_cmd.sign)
app.command(rich_help_panel="Pipelines")(spec_cmds.validate)
app.command(rich_help_panel="Pipelines")(spec_cmds.schema)
app.command(rich_help_panel="Demo")(demo.demo)
app.command(rich_help_panel="Stack")(codec_server_cmd.codec_server)
app.command(rich_help_panel="Stack")(serve_cmd.serve)
app.command(rich_help_panel="Stack")(codec_server_cmd.rotate_codec_key)


def main() -> None:
    """The `rollway` console script: run the app, then close Temporal's runtime cleanly.

    The exit status is taken and the exception dropped before the runtime closes:
    a traceback still alive would keep a client (and with it the runtime) alive into
    interpreter finalization, which is what aborted `status --json` with exit 134.
    """
    from rollway.connection import close_runtime

    code: int | str | None = 0
    try:
        app()
    except SystemExit as e:
        code = e.code
    close_runtime()
    sys.exit(code)


if __name__ == "__main__":
    main()
