"""`rollway rollback`: a running promotion's canary, or a service back to a verified release.

`rollway rollback promote-…` rolls a running promotion's canary back, as before.
`rollway rollback <service> [--to VERSION | --previous]` starts a `RollbackWorkflow`
(docs/rollback.md); without `--to`/`--previous` while a promotion of the service
runs, that promotion is rolled back (what the command always did).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from rollway import TASK_QUEUE
from rollway.cli import actions
from rollway.cli.common import (
    ID_PREFIX,
    ROLLBACK_PREFIX,
    UserError,
    connect,
    default_user,
    err,
    out,
    run,
    user_errors,
    workflow_link,
)
from rollway.cli.output import Exit, Format, dump
from rollway.cli.sign import KeyOpt, UnsignedOpt, decision_signature

if TYPE_CHECKING:
    from temporalio.client import Client

    from rollway.rollback import RollbackInput, RollbackResult
    from rollway.spec import PipelineSpec

WORKFLOW = "RollbackWorkflow"
RESULT_TIMEOUT_S = 3600.0


@dataclass(frozen=True)
class Signing:
    """How the CLI signs the request: `--key`, `--unsigned`, and where unsigned is refused
    (from the local copy of the pipeline, when this machine has it)."""

    key: Path | None
    unsigned: bool
    refused_in: list[str]


def refused_unsigned(inp: RollbackInput, local: PipelineSpec | None) -> list[str]:
    from rollway.security.authorization import accepts_unsigned

    spec = inp.pipeline or local
    if spec is None or accepts_unsigned(spec, inp.environment):
        return []
    return [inp.environment]


def workflow_id(service: str, environment: str) -> str:
    """`rollback-<service>-<environment>-<UTC time>-<random>`: one per request."""
    now = datetime.now(UTC)
    return f"{ROLLBACK_PREFIX}{service}-{environment}-{now:%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


def build_input(
    service: str,
    environment: str,
    to: str | None,
    previous: bool,
    pipeline: Path | None,
    by: str,
    reason: str,
    force: bool,
    wait: str,
    inline: bool = False,
) -> RollbackInput:
    """Every check that needs no server, then the workflow input (errors name the flag)."""
    from pydantic import ValidationError

    from rollway.cli.promote import catalog_name, load_spec, pipeline_path
    from rollway.durations import parse_duration
    from rollway.rollback import RollbackInput
    from rollway.security.inputs import InputError, check_name, check_version

    try:
        check_name(service, "service")
        check_name(environment, "--environment")
        if to is not None:
            check_version(to, "--to")
    except InputError as e:
        raise UserError(str(e), 2) from None
    if to is not None and previous:
        raise UserError("give either --to VERSION or --previous, not both", 2)
    try:
        lock_timeout = parse_duration(wait)
    except ValueError as e:
        raise UserError(f"--wait {wait}: {e} (e.g. --wait 10m)", 2) from None
    path = pipeline_path(service, pipeline)
    name: str | None = None
    inline_spec = None
    if inline:
        if path is None:
            raise UserError(f"--inline needs a pipeline file; {pipeline} is not one", 2)
        inline_spec = load_spec(path, service)
    elif path is not None:  # checked here for early errors; the worker loads it by name
        spec = load_spec(path, service)
        if environment not in spec.environments:
            known = ", ".join(spec.environments)
            raise UserError(f"--environment {environment}: not in the pipeline (known: {known})", 2)
        name = catalog_name(path)
    elif pipeline is not None:
        name = str(pipeline)  # a name only the worker's catalog holds
    try:
        return RollbackInput(
            services=[service],
            environment=environment,
            to_version=to,
            previous=previous,
            pipeline_name=name,
            pipeline=inline_spec,
            by=by,
            reason=reason,
            force=force,
            lock_timeout=lock_timeout,
        )
    except ValidationError as e:
        raise UserError(str(e), 2) from None


async def running_promotion(client: Client, service: str) -> str | None:
    """The id of a running promotion of `service`, if any (the CLI's `promote-<service>-…`)."""
    query = (
        "WorkflowType = 'PromotionWorkflow' AND ExecutionStatus = 'Running' "
        f"AND WorkflowId STARTS_WITH '{ID_PREFIX}{service}-'"
    )
    async for wf in client.list_workflows(query, limit=1):
        return wf.id
    return None


async def start(client: Client, inp: RollbackInput, wid: str | None = None) -> str:
    """Start the rollback with Rollway's search attributes (so `rollway status <service>` sees it)."""
    from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
    from temporalio.service import RPCError

    wid = wid or workflow_id(inp.service, inp.environment)
    keyword = SearchAttributeKey.for_keyword
    attrs = TypedSearchAttributes(
        [
            SearchAttributePair(keyword("RollwayService"), inp.service),
            SearchAttributePair(keyword("RollwayEnvironment"), inp.environment),
            SearchAttributePair(keyword("RollwayStage"), "pending"),
            SearchAttributePair(keyword("RollwayOutcome"), "running"),
        ]
    )
    wanted = inp.to_version or "previous verified release"
    try:
        await client.start_workflow(
            WORKFLOW,
            inp,
            id=wid,
            task_queue=TASK_QUEUE,
            search_attributes=attrs,
            memo={"service": inp.service, "requested_by": inp.by, "kind": "rollback"},
            static_summary=f"rollback {inp.service} in {inp.environment} to {wanted}",
        )
    except RPCError as e:
        raise UserError(f"could not start {wid}: {e.message}") from None
    return wid


def describe(result: RollbackResult) -> str:
    """One line for people: the move, how long until traffic moved, the verification."""
    s = result.state
    text = f"{result.outcome}: {result.reason}"
    if s.started_at and s.traffic_moved_at:
        seconds = (s.traffic_moved_at - s.started_at).total_seconds()
        text += f" (traffic moved {seconds:.1f}s after the workflow started)"
    return text


async def _rollback(inp: RollbackInput, detach: bool, output: Format, signing: Signing) -> int:
    from rollway.rollback import RollbackResult

    wid = workflow_id(inp.service, inp.environment)
    inp.signed = decision_signature(
        "rollback",
        wid,
        inp.by,
        inp.reason,
        key=signing.key,
        unsigned=signing.unsigned,
        refused_unsigned_in=signing.refused_in,
    )
    client = await connect()
    wid = await start(client, inp, wid)
    machine = output != Format.TABLE
    if not machine:
        out().print(f"[green]started[/green] [bold]{wid}[/bold]")
        if link := workflow_link(wid):
            out().print(f"  UI: {link}")
        out().print(f"  follow it: rollway status {wid}")
    if detach:
        if machine:
            typer.echo(dump({"workflow_id": wid, "outcome": "running"}, output))
        return 0
    handle = client.get_workflow_handle(wid, result_type=RollbackResult)
    result = await handle.result(rpc_timeout=None)
    code = Exit.OK if result.outcome == "rolled_back" else Exit.FAILED
    if machine:
        doc = {"workflow_id": wid, **result.model_dump(mode="json")}
        typer.echo(dump(doc, output))
    else:
        style = "green" if code == Exit.OK else "red"
        console = out() if code == Exit.OK else err()
        console.print(f"[{style}]{escape(describe(result))}[/{style}]")
    return int(code)


def rollback(
    ref: Annotated[
        str,
        typer.Argument(
            help="A service (return it to a verified release) or a promotion id "
            "promote-… (roll its running canary back)."
        ),
    ],
    to: Annotated[
        str | None,
        typer.Option("--to", help="The release to return to (it must have passed a canary)."),
    ] = None,
    previous: Annotated[
        bool,
        typer.Option(
            "--previous",
            help="Return to the newest verified release before the current one (the default "
            "when no promotion of the service runs).",
        ),
    ] = False,
    environment: Annotated[
        str, typer.Option("--environment", "-e", help="Where to roll back.")
    ] = "production",
    by: actions.ByDefault = None,
    reason: actions.Reason = "",
    force: Annotated[
        bool,
        typer.Option(
            help="Allow a release that never passed a canary (release managers only; audited)."
        ),
    ] = False,
    pipeline: Annotated[
        Path | None,
        typer.Option(
            help="Pipeline file in the catalog, or a catalog name (default: the service's)."
        ),
    ] = None,
    inline: Annotated[
        bool,
        typer.Option(
            help="Send the --pipeline file itself (development workers only, e.g. `rollway up`)."
        ),
    ] = False,
    wait: Annotated[
        str,
        typer.Option(
            help="How long to wait for the environment lock if a promotion holds it "
            "(default: refuse at once, naming the holder)."
        ),
    ] = "0s",
    detach: Annotated[
        bool, typer.Option(help="Return once started instead of waiting for the outcome.")
    ] = False,
    output: Annotated[
        Format, typer.Option("--output", "-o", help="table for people; json or yaml for scripts.")
    ] = Format.TABLE,
    key: KeyOpt = None,
    unsigned: UnsignedOpt = False,
    print_input: Annotated[
        bool,
        typer.Option(
            "--print-input",
            help="Print the workflow input as JSON and start nothing (for `temporal "
            "workflow start --type RollbackWorkflow --input-file`).",
        ),
    ] = False,
) -> None:
    """Roll back: a running promotion's canary, or a service to a release that passed a canary."""
    who = by or default_user()
    new_flags = to is not None or previous or force or environment != "production"
    if ref.startswith(ID_PREFIX):
        if new_flags or pipeline is not None:
            with user_errors():
                raise UserError(
                    "--to, --previous, --force, --environment and --pipeline apply to a "
                    "service, not to a promotion id: `rollway rollback <service> --previous`",
                    2,
                )
        actions.rollback(ref, who, reason, key, unsigned)
        return
    with user_errors():
        inp = build_input(
            ref, environment, to, previous, pipeline, who, reason, force, wait, inline
        )
    if print_input:
        typer.echo(inp.model_dump_json(indent=2, exclude_defaults=True))
        return
    if not new_flags:

        async def find_running() -> str | None:
            return await running_promotion(await connect(), ref)

        if (running := run(find_running())) is not None:
            out().print(
                f"{running} is running: rolling its canary back "
                f"(--previous or --to return {escape(ref)} to a verified release instead)"
            )
            actions.rollback(running, who, reason, key, unsigned)
            return
    signing = Signing(key, unsigned, refused_unsigned(inp, _local_spec(ref, pipeline)))
    raise typer.Exit(run(_rollback(inp, detach, output, signing)))


def _local_spec(service: str, pipeline: Path | None) -> PipelineSpec | None:
    """This machine's copy of the pipeline (to know whether the CLI must sign), if any."""
    from rollway.cli.promote import load_spec, pipeline_path

    try:
        path = pipeline_path(service, pipeline)
        return load_spec(path, service) if path is not None else None
    except UserError:
        return None
