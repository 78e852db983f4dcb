"""Release control from the command line: incidents, freezes, overrides, the audit trail.

Each command is a plain Temporal update underneath (on `release-control-<environment>`
or on the promotion), so `temporal workflow update execute` does the same.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from rollway import TASK_QUEUE
from rollway.cli.actions import Ref, _signature, _target, _update
from rollway.cli.common import UserError, connect, default_user, find, handle, out, run
from rollway.cli.output import Format, OutputOpt, emit
from rollway.cli.sign import KeyOpt, UnsignedOpt, decision_signature
from rollway.cli.status import query_state

if TYPE_CHECKING:
    from temporalio.client import Client

    from rollway.release_control import ControlSnapshot

Env = Annotated[str, typer.Option("--environment", "-e", help="The environment.")]
ByOpt = Annotated[str | None, typer.Option(help="Who acts (default: your user name).")]

incident = typer.Typer(help="Declare, resolve and list incidents (SEV-1/2 lock production).")


async def _control(client: Client, environment: str, name: str, arg: Any) -> ControlSnapshot:
    """Run an update on the environment's release control, starting it if needed."""
    from temporalio.client import WorkflowUpdateFailedError
    from temporalio.common import WorkflowIDConflictPolicy
    from temporalio.exceptions import ApplicationError

    from rollway.release_control import ControlSnapshot, ReleaseControlState, control_workflow_id

    wf_id = control_workflow_id(environment)
    await client.start_workflow(
        "ReleaseControlWorkflow",
        ReleaseControlState(snapshot=ControlSnapshot(environment=environment)),
        id=wf_id,
        task_queue=TASK_QUEUE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    try:
        snap: ControlSnapshot = await client.get_workflow_handle(wf_id).execute_update(
            name, arg, result_type=ControlSnapshot
        )
        return snap
    except WorkflowUpdateFailedError as e:
        cause = e.cause
        msg = cause.message if isinstance(cause, ApplicationError) else str(cause or e)
        raise UserError(f"refused: {msg}") from None


def _signed_control(
    inp: Any, action: str, environment: str, key: Path | None, unsigned: bool
) -> Any:
    """Release control's policy lives on the worker: sign with --key / $ROLLWAY_SIGNING_KEY."""
    from rollway.release_control import control_workflow_id

    if unsigned:
        return inp
    inp.signed = decision_signature(
        action,
        control_workflow_id(environment),
        inp.by,
        inp.signed_text(),
        key=key,
        unsigned=False,
        refused_unsigned_in=[],
    )
    return inp


def _print_snapshot(snap: ControlSnapshot) -> None:
    console = out()
    if not snap.incidents and not snap.freezes:
        console.print(f"{snap.environment}: no active incidents or freezes")
        return
    table = Table("kind", "id", "severity", "by / IC", "since", "why", title=snap.environment)
    for i in snap.incidents:
        table.add_row(
            "incident",
            i.id,
            i.severity,
            i.commander,
            f"{i.declared_at:%Y-%m-%d %H:%M}",
            escape(i.summary),
        )
    for f in snap.freezes:
        until = f" until {f.until:%Y-%m-%d %H:%M}" if f.until else ""
        table.add_row("freeze", f.id, "", f.by, f"{f.at:%Y-%m-%d %H:%M}{until}", escape(f.reason))
    console.print(table)


@incident.command("declare")
def declare(
    id_: Annotated[str, typer.Option("--id", help="Incident id, e.g. INC-42.")],
    severity: Annotated[str, typer.Option(help="SEV-1 .. SEV-4.")],
    commander: Annotated[str, typer.Option(help="The incident commander (may override).")],
    summary: Annotated[str, typer.Option(help="One line on what is wrong.")] = "",
    environment: Env = "production",
    by: ByOpt = None,
    key: KeyOpt = None,
    unsigned: UnsignedOpt = False,
) -> None:
    """Declare an incident: SEV-1/SEV-2 halt canaries and close the production gate."""
    from rollway.release_control import DeclareIncidentInput

    async def main() -> None:
        try:
            inp = DeclareIncidentInput(
                id=id_,
                severity=severity,
                commander=commander,
                summary=summary,
                by=by or default_user(),
            )
        except ValueError as e:
            raise UserError(f"--severity: {e}".replace("Value error, ", ""), 2) from None
        inp = _signed_control(inp, "incident-declare", environment, key, unsigned)
        _print_snapshot(await _control(await connect(), environment, "declare_incident", inp))

    run(main())


@incident.command("resolve")
def resolve(
    id_: Annotated[str, typer.Option("--id", help="Incident id.")],
    reason: Annotated[str, typer.Option(help="How it was resolved.")] = "",
    environment: Env = "production",
    by: ByOpt = None,
    key: KeyOpt = None,
    unsigned: UnsignedOpt = False,
) -> None:
    """Resolve an incident: halted canaries resume."""
    from rollway.release_control import ResolveIncidentInput

    async def main() -> None:
        inp = ResolveIncidentInput(id=id_, reason=reason, by=by or default_user())
        inp = _signed_control(inp, "incident-resolve", environment, key, unsigned)
        _print_snapshot(await _control(await connect(), environment, "resolve_incident", inp))

    run(main())


@incident.command("list")
def list_(environment: Env = "production", output: OutputOpt = Format.TABLE) -> None:
    """Active incidents and freezes of an environment."""
    from rollway.release_control import ControlSnapshot, ReleaseControlState, control_workflow_id

    async def main() -> None:
        client = await connect()
        wf = client.get_workflow_handle(control_workflow_id(environment))
        try:
            state: ReleaseControlState = await wf.query("state", result_type=ReleaseControlState)
            snap = state.snapshot
        except Exception:
            if output == Format.TABLE:
                out().print(f"{environment}: no release control yet (no incidents or freezes)")
                return
            snap = ControlSnapshot(environment=environment)
        emit(snap.model_dump(mode="json"), output, lambda: _print_snapshot(snap))

    run(main())


def freeze(
    reason: Annotated[str, typer.Option(help="Why deploys stop (required).")],
    id_: Annotated[str, typer.Option("--id", help="Freeze id.")] = "manual",
    until: Annotated[
        datetime | None,
        typer.Option(help="When it lifts by itself (ISO time; without a zone: local time)."),
    ] = None,
    environment: Env = "production",
    by: ByOpt = None,
    key: KeyOpt = None,
    unsigned: UnsignedOpt = False,
) -> None:
    """Freeze an environment: waiting promotions hold at the release gate."""
    from rollway.release_control import FreezeInput

    async def main() -> None:
        if not reason.strip():
            raise UserError("--reason must say why deploys stop", 2)
        lifts = until
        if lifts is not None and lifts.tzinfo is None:
            lifts = lifts.astimezone()  # a naive time is the user's local time
            out().print(f"--until has no time zone: taken as local time, {lifts.isoformat()}")
        inp = FreezeInput(id=id_, reason=reason, until=lifts, by=by or default_user())
        inp = _signed_control(inp, "freeze", environment, key, unsigned)
        _print_snapshot(await _control(await connect(), environment, "freeze", inp))

    run(main())


def unfreeze(
    id_: Annotated[str, typer.Option("--id", help="Freeze id.")] = "manual",
    reason: Annotated[str, typer.Option(help="Why deploys may resume.")] = "",
    environment: Env = "production",
    by: ByOpt = None,
    key: KeyOpt = None,
    unsigned: UnsignedOpt = False,
) -> None:
    """Lift a manual freeze."""
    from rollway.release_control import UnfreezeInput

    async def main() -> None:
        inp = UnfreezeInput(id=id_, reason=reason, by=by or default_user())
        inp = _signed_control(inp, "unfreeze", environment, key, unsigned)
        _print_snapshot(await _control(await connect(), environment, "unfreeze", inp))

    run(main())


def override(
    ref: Ref,
    kind: Annotated[
        str,
        typer.Argument(help="bypass_gate | rollback | pause | resume | skip_soak | promote_now"),
    ],
    reason: Annotated[str, typer.Option(help="Why (required; audited).")],
    by: ByOpt = None,
    key: KeyOpt = None,
    unsigned: UnsignedOpt = False,
) -> None:
    """Incident-commander / release-manager override of one promotion."""
    from rollway.release_control import OverrideInput

    async def main() -> None:
        try:
            inp = OverrideInput.model_validate(
                {"by": by or default_user(), "kind": kind, "reason": reason}
            )
        except ValueError:
            raise UserError(
                f"unknown override '{kind}': use bypass_gate, rollback, pause, resume, "
                "skip_soak or promote_now; --reason is required",
                2,
            ) from None
        client = await connect()
        found, h = await _target(client, ref, "override")
        inp.signed = await _signature(h, f"override:{inp.kind}", inp.by, reason, key, unsigned)
        state = await _update(client, found, h, "override", inp, 30)
        last = state.audit[-1] if state.audit else None
        out().print(
            f"override {kind} accepted for {found.workflow_id}"
            + (f": {escape(last.reason)}" if last else "")
        )

    run(main())


def audit(
    ref: Ref,
    json_: Annotated[bool, typer.Option("--json", help="Same as -o json.")] = False,
    output: OutputOpt = Format.TABLE,
) -> None:
    """Every decision on a promotion: approvals, refusals, overrides, holds, rollbacks."""
    fmt = Format.JSON if json_ else output

    async def main() -> None:
        client = await connect()
        found = await find(client, ref)
        state = await query_state(handle(client, found))
        if fmt != Format.TABLE:
            doc = {
                "workflow_id": found.workflow_id,
                "service": state.service,
                "version": state.version,
                "commit": state.commit,
                "outcome": state.outcome.value,
                "reason": state.reason,
                "audit": [a.model_dump(mode="json") for a in state.audit],
                "approvals": [a.model_dump(mode="json") for a in state.approvals],
            }
            emit(doc, fmt, lambda: None)
            return
        table = Table("when (UTC)", "who", "action", "verdict", "why", title=found.workflow_id)
        for a in state.audit:
            verdict = "[green]accepted[/green]" if a.accepted else "[red]refused[/red]"
            table.add_row(
                f"{a.at:%Y-%m-%d %H:%M:%S}",
                escape(a.by),
                escape(a.action),
                verdict,
                escape(a.reason),
            )
        out().print(table)
        if not state.audit:
            out().print(
                "no decisions recorded (promotions started before release control "
                "record their decisions in the timeline: `rollway status`)"
            )

    run(main())
