"""`rollway up`, `down`, `worker`: the embedded local stack."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from rollway.cli.common import fail, out, settings, user_errors
from rollway.home import home

if TYPE_CHECKING:
    from rollway import stack

STATUS_STYLE = {
    "started": "green",
    "restarted": "magenta",
    "running": "cyan",
    "stopped": "yellow",
}


def parts_table(parts: list[stack.Part]) -> Table:
    t = Table("part", "status", "address / ports")
    for p in parts:
        style = STATUS_STYLE.get(p.status, "")
        t.add_row(p.name, f"[{style}]{p.status}[/{style}]", escape(p.detail))
    return t


def bring_up(scrape_interval: str = "1s", worker: bool = True) -> list[stack.Part]:
    """`stack.up` with its table and the UI URL; a `StackError` exits 1 in red."""
    from rollway import stack

    h = home()
    try:
        parts = stack.up(h, scrape_interval=scrape_interval, worker=worker)
    except stack.StackError as e:
        fail(f"the local stack did not come up: {e}")
    console = out()
    console.print(parts_table(parts))
    console.print(f"Temporal UI: [bold]{stack.ui_url(h)}[/bold]   state: {h}")
    with contextlib.suppress(stack.StackError):
        keys = stack.payload_keyring(h)
        console.print(
            f"payloads encrypted on the server with {escape(str(keys))} "
            "(read them in the UI through `rollway codec-server`)"
        )
    if not worker:
        console.print("no worker started: run `rollway worker` in another terminal")
    return parts


def up(
    no_worker: Annotated[
        bool,
        typer.Option("--no-worker", help="Do not start a worker (run `rollway worker` yourself)."),
    ] = False,
    scrape_interval: Annotated[str, typer.Option(help="Prometheus scrape interval.")] = "1s",
) -> None:
    """Start the local stack (Temporal, Prometheus, HAProxy, a worker); idempotent."""
    bring_up(scrape_interval, worker=not no_worker)


def down(
    keep_services: Annotated[
        bool,
        typer.Option("--keep-services", help="Leave the service versions and HAProxy running."),
    ] = False,
) -> None:
    """Stop the local stack (and the service versions it runs, unless --keep-services)."""
    from rollway import stack

    try:
        parts = stack.down(home(), services=not keep_services)
    except stack.StackError as e:
        fail(f"could not stop the stack: {e}")
    if not parts:
        out().print("nothing was running")
        return
    out().print(parts_table(parts))


def worker() -> None:
    """Run a Rollway worker in the foreground (Ctrl-C stops it)."""
    from workers.main import main as worker_main

    with user_errors(), contextlib.suppress(KeyboardInterrupt):
        asyncio.run(worker_main(settings()))
