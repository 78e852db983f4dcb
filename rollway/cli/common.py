"""Shared CLI plumbing: consoles, user errors, the Temporal connection, finding promotions.

Imports stay light here (no Temporal SDK, no pipeline models at import time) so that
`rollway --help` and `rollway validate` start fast; what a command needs is imported
inside it.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from rollway.connection import Overrides, Settings, TemporalConnectionError, load_settings

if TYPE_CHECKING:
    from temporalio.client import Client, WorkflowHandle

T = TypeVar("T")

ID_PREFIX = "promote-"
ROLLBACK_PREFIX = "rollback-"
NO_TTY_WIDTH = 1000
"""Console width when the stream is not a terminal: long lines are never wrapped."""

_overrides = Overrides()


def set_overrides(overrides: Overrides) -> None:
    """The global `--address/--namespace/--profile` flags of this invocation."""
    global _overrides
    _overrides = overrides


def _console(stderr: bool) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(stderr=stderr, highlight=False)
    # Not a terminal (a pipe, a file, CI logs): no wrapping at 80 columns, no colours.
    return Console(stderr=stderr, highlight=False, width=NO_TTY_WIDTH, soft_wrap=True)


def out() -> Console:
    """A console on the current stdout (created per call, so test runners capture it)."""
    return _console(stderr=False)


def err() -> Console:
    return _console(stderr=True)


class UserError(Exception):
    """A mistake the user can fix; printed in red without a traceback."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def fail(message: str, code: int = 1) -> NoReturn:
    """Print `message` in red on stderr and exit with `code`."""
    err().print(f"[red]error:[/red] {escape(message)}")
    raise typer.Exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn a `UserError` into a red message and its exit code."""
    try:
        yield
    except UserError as e:
        fail(e.message, e.code)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine; a `UserError` (or a payload's codec error) becomes a red message."""
    with user_errors():
        try:
            return asyncio.run(coro)
        except Exception as e:
            codec = sys.modules.get("rollway.security.codec")  # loaded if it raised
            if codec is not None and isinstance(e, codec.CodecError):
                fail(str(e))
            raise
        except KeyboardInterrupt:
            err().print(
                "interrupted: a promotion already started goes on (`rollway status <service>`)"
            )
            raise typer.Exit(130) from None


def default_user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def settings() -> Settings:
    """Where this invocation connects (flags, Temporal's env config, Rollway's fallbacks)."""
    try:
        return load_settings(_overrides)
    except TemporalConnectionError as e:
        raise UserError(str(e)) from None


def address() -> str:
    """Temporal's `host:port` for this invocation."""
    return settings().address


def ui_base() -> str | None:
    """The Temporal UI of the server we talk to, when we know it."""
    if explicit := os.environ.get("ROLLWAY_TEMPORAL_UI"):
        return explicit.rstrip("/")
    from rollway.home import home
    from rollway.stack import temporal_address, ui_url

    h = home()
    if temporal_address(h) == address():
        return ui_url(h)
    return None


def workflow_link(workflow_id: str) -> str | None:
    base = ui_base()
    ns = settings().namespace
    return f"{base}/namespaces/{ns}/workflows/{workflow_id}" if base else None


async def connect(*, warn_plaintext: bool = False) -> Client:
    """A client with Rollway's data converter, or a `UserError` saying how to fix it.

    The converter encrypts payloads when a keyring is configured (`rollway.connection`);
    with `warn_plaintext`, a missing keyring is said on stderr (not an error).
    """
    from rollway.connection import connect as connect_to
    from rollway.connection import plaintext_warning

    s = settings()
    if warn_plaintext and (warning := plaintext_warning(s)):
        err().print(f"[yellow]warning:[/yellow] {escape(warning)}")
    try:
        return await connect_to(s)
    except TemporalConnectionError as e:
        raise UserError(str(e)) from None


def not_found(workflow_id: str) -> UserError:
    return UserError(f"no promotion with id {workflow_id} (see `rollway status <service>`)")


@dataclass
class Found:
    """A promotion located by id or by service."""

    workflow_id: str
    run_id: str | None
    running: bool


async def find(client: Client, ref: str, *, running_only: bool = False) -> Found:
    """Resolve `promote-…` ids directly; a service name to its running (else latest) promotion."""
    from temporalio.client import WorkflowExecutionStatus
    from temporalio.service import RPCError, RPCStatusCode

    if ref.startswith((ID_PREFIX, ROLLBACK_PREFIX)):
        try:
            desc = await client.get_workflow_handle(ref).describe()
        except RPCError as e:
            if e.status == RPCStatusCode.NOT_FOUND:
                raise not_found(ref) from None
            raise
        return Found(ref, desc.run_id, desc.status == WorkflowExecutionStatus.RUNNING)
    if '"' in ref or "\\" in ref:
        raise UserError(f"'{ref}' is neither a promotion id (promote-…) nor a service name")
    running: tuple[datetime, Found] | None = None
    latest: tuple[datetime, Found] | None = None
    try:
        async for wf in client.list_workflows(f'RollwayService="{ref}"'):
            f = Found(wf.id, wf.run_id, wf.status == WorkflowExecutionStatus.RUNNING)
            if f.running and (running is None or wf.start_time > running[0]):
                running = (wf.start_time, f)
            if latest is None or wf.start_time > latest[0]:
                latest = (wf.start_time, f)
    except RPCError as e:
        raise UserError(
            f"cannot list the promotions of '{ref}': {e.message} (does the server "
            "know Rollway's search attributes? `rollway up` registers them)"
        ) from None
    if running is not None:
        return running[1]
    if latest is not None and not running_only:
        return latest[1]
    what = "no running promotion" if latest is not None else "no promotion"
    raise UserError(
        f"{what} of service '{ref}' (start one with "
        f"`rollway promote --service {ref} ...`, or pass a promote-… id)"
    )


def handle(client: Client, found: Found) -> WorkflowHandle[Any, Any]:
    return client.get_workflow_handle(found.workflow_id)
