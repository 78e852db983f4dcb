"""`rollway setup-namespace`: register Rollway's search attributes on a Temporal cluster.

Every `promote` sets `RollwayService`, `RollwayEnvironment`, `RollwayCommit` and
`RollwayStage` (see `rollway.SEARCH_ATTRIBUTES`); a namespace without them refuses
the start. This runs the operator service's `AddSearchAttributes`, like
`temporal operator search-attribute create`, and only for the ones missing, so it
is safe to run on every deploy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from rollway import SEARCH_ATTRIBUTES
from rollway.cli.common import UserError, connect, out, run, settings
from rollway.cli.output import Format, OutputOpt, emit

if TYPE_CHECKING:
    from temporalio.client import Client

TYPE_NAMES = {
    "Keyword": "INDEXED_VALUE_TYPE_KEYWORD",
    "Text": "INDEXED_VALUE_TYPE_TEXT",
    "Int": "INDEXED_VALUE_TYPE_INT",
    "Double": "INDEXED_VALUE_TYPE_DOUBLE",
    "Bool": "INDEXED_VALUE_TYPE_BOOL",
    "Datetime": "INDEXED_VALUE_TYPE_DATETIME",
    "KeywordList": "INDEXED_VALUE_TYPE_KEYWORD_LIST",
}


async def ensure_namespace(
    client: Client, namespace: str, create: bool, retention_days: int
) -> str:
    """`present` or `created`; a `UserError` naming the fix when it is missing."""
    from datetime import timedelta

    from temporalio.api.workflowservice.v1 import (
        DescribeNamespaceRequest,
        RegisterNamespaceRequest,
    )
    from temporalio.service import RPCError, RPCStatusCode

    try:
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=namespace)
        )
        return "present"
    except RPCError as e:
        if e.status != RPCStatusCode.NOT_FOUND:
            raise UserError(f"cannot describe namespace {namespace}: {e.message}") from None
    if not create:
        raise UserError(
            f"namespace {namespace} does not exist: pass --create-namespace, or create it "
            f"(`temporal operator namespace create --namespace {namespace}`)"
        )
    try:
        from google.protobuf.duration_pb2 import Duration

        retention = Duration()
        retention.FromTimedelta(timedelta(days=retention_days))
        await client.workflow_service.register_namespace(
            RegisterNamespaceRequest(
                namespace=namespace, workflow_execution_retention_period=retention
            )
        )
    except RPCError as create_error:
        if create_error.status != RPCStatusCode.ALREADY_EXISTS:
            raise UserError(
                f"cannot create namespace {namespace}: {create_error.message}"
            ) from None
    return "created"


async def register(client: Client, namespace: str, *, wait_s: float = 0.0) -> list[dict[str, str]]:
    """Add the missing search attributes; one row per attribute with what happened.

    `wait_s`: how long a namespace just created may stay unknown to the operator
    service (the server's namespace cache refreshes every few seconds).
    """
    import asyncio

    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import (
        AddSearchAttributesRequest,
        ListSearchAttributesRequest,
    )
    from temporalio.service import RPCError, RPCStatusCode

    deadline = asyncio.get_running_loop().time() + wait_s
    while True:
        try:
            listed = await client.operator_service.list_search_attributes(
                ListSearchAttributesRequest(namespace=namespace)
            )
            break
        except RPCError as e:
            if e.status == RPCStatusCode.NOT_FOUND and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.5)
                continue
            raise UserError(
                f"cannot list the search attributes of namespace {namespace}: {e.message} "
                "(on Temporal Cloud, add them with `tcld namespace search-attributes add`)"
            ) from None
    existing = dict(listed.custom_attributes)
    rows: list[dict[str, str]] = []
    missing: dict[str, Any] = {}
    for name, kind in SEARCH_ATTRIBUTES.items():
        want = IndexedValueType.Value(TYPE_NAMES[kind])
        have = existing.get(name)
        if have is None:
            missing[name] = want
            rows.append({"name": name, "type": kind, "status": "added"})
        elif have != want:
            raise UserError(
                f"search attribute {name} exists in namespace {namespace} as "
                f"{IndexedValueType.Name(have).removeprefix('INDEXED_VALUE_TYPE_')}, Rollway "
                f"needs {kind}: remove it (`temporal operator search-attribute remove "
                f"--name {name}`) and run this again"
            )
        else:
            rows.append({"name": name, "type": kind, "status": "present"})
    if missing:
        try:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(search_attributes=missing, namespace=namespace)
            )
        except RPCError as e:
            if e.status != RPCStatusCode.ALREADY_EXISTS:
                raise UserError(
                    f"cannot add search attributes to namespace {namespace}: {e.message} "
                    "(this needs the operator API: an admin's credentials, or "
                    "`temporal operator search-attribute create`)"
                ) from None
    return rows


def setup_namespace(
    create_namespace: Annotated[
        bool,
        typer.Option("--create-namespace", help="Create the namespace when it does not exist."),
    ] = False,
    retention_days: Annotated[
        int, typer.Option(help="With --create-namespace: how long closed workflows are kept.")
    ] = 30,
    output: OutputOpt = Format.TABLE,
) -> None:
    """Register Rollway's search attributes on the namespace (idempotent)."""

    async def main() -> None:
        ns = settings().namespace
        client = await connect()
        ns_status = await ensure_namespace(client, ns, create_namespace, retention_days)
        rows = await register(client, ns, wait_s=60.0 if ns_status == "created" else 0.0)

        def table() -> None:
            t = Table("search attribute", "type", "status", title=f"namespace {ns} ({ns_status})")
            for r in rows:
                style = "green" if r["status"] == "added" else "cyan"
                t.add_row(r["name"], r["type"], f"[{style}]{r['status']}[/{style}]")
            out().print(t)

        emit({"namespace": ns, "namespace_status": ns_status, "attributes": rows}, output, table)

    run(main())
