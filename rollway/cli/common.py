"""Shared CLI plumbing: consoles, user errors, the Temporal connection, finding promotions."""

from __future__ import annotations

import asyncio
import getpass
import os
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode

from rollway import NAMESPACE
from rollway.home import home
from rollway.stack import temporal_address, ui_url

T = TypeVar("T")

ID_PREFIX = "promote-"


def out() -> Console:
    """A console on the current stdout (created per call, so test runners capture it)."""
    return Console(highlight=False)


def err() -> Console:
    return Console(stderr=True, highlight=False)


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
    """Run a coroutine; a `UserError` becomes a red message and an exit code."""
    with user_errors():
        try:
            return asyncio.run(coro)
        except KeyboardInterrupt:
            err().print(
                "interrupted: a promotion already started goes on (`rollway status <service>`)"
            )
            raise typer.Exit(130) from None


def default_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def address() -> str:
    """Temporal's `host:port`: $ROLLWAY_TEMPORAL_ADDRESS, else the one `rollway up` recorded."""
    addr = os.environ.get("ROLLWAY_TEMPORAL_ADDRESS") or temporal_address(home())
    if not addr:
        raise UserError(
            "no Temporal server is known: run `rollway up` "
            "(or set ROLLWAY_TEMPORAL_ADDRESS=host:port)"
        )
    return addr


def ui_base() -> str | None:
    """The Temporal UI of the server we talk to, when we know it."""
    if explicit := os.environ.get("ROLLWAY_TEMPORAL_UI"):
        return explicit.rstrip("/")
    h = home()
    if temporal_address(h) == address():
        return ui_url(h)
    return None


def workflow_link(workflow_id: str) -> str | None:
    base = ui_base()
    return f"{base}/namespaces/{NAMESPACE}/workflows/{workflow_id}" if base else None


async def connect() -> Client:
    """A client with Rollway's data converter, or a `UserError` saying how to start one."""
    addr = address()
    try:
        return await Client.connect(
            addr, namespace=NAMESPACE, data_converter=pydantic_data_converter
        )
    except RuntimeError as e:
        raise UserError(f"cannot reach Temporal at {addr}: run `rollway up` ({e})") from None


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
    if ref.startswith(ID_PREFIX):
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
