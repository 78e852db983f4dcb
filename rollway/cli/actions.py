"""Human decisions on a running promotion: approve, reject, rollback, abort, pause, resume."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from rollway.cli.common import (
    Found,
    UserError,
    connect,
    default_user,
    find,
    not_found,
    out,
    run,
)
from rollway.cli.sign import KeyOpt, UnsignedOpt, decision_signature
from rollway.cli.status import query_state

if TYPE_CHECKING:
    from pathlib import Path

    from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError

    from rollway.models import PromotionState
    from rollway.security.decisions import SignedDecision

Ref = Annotated[
    str,
    typer.Argument(
        help="The promotion id (promote-…), or a service name for its running promotion."
    ),
]
By = Annotated[str, typer.Option(help="Who decides (recorded in the timeline).")]
ByDefault = Annotated[str | None, typer.Option(help="Who acts (default: your user name).")]
Reason = Annotated[str, typer.Option(help="Why (recorded in the timeline).")]
Comment = Annotated[str, typer.Option(help="A comment recorded with the decision.")]

UPDATE_TIMEOUT = 30.0
ROLLBACK_TIMEOUT = 600.0


async def _ended(client: Client, found: Found) -> str:
    """How an ended promotion ended, for refusal messages."""
    try:
        state = await query_state(client.get_workflow_handle(found.workflow_id), wait_s=5)
        return f"{state.outcome.value}: {state.reason}" if state.reason else state.outcome.value
    except UserError:
        return "closed"


async def _target(client: Client, ref: str, action: str) -> tuple[Found, WorkflowHandle[Any, Any]]:
    """The running promotion `ref` names, or a refusal saying why there is none."""
    found = await find(client, ref, running_only=True)
    if not found.running:
        raise UserError(
            f"refused: nothing to {action}: the promotion {found.workflow_id} has "
            f"ended ({await _ended(client, found)})"
        )
    return found, client.get_workflow_handle(found.workflow_id)


async def _signature(
    handle: WorkflowHandle[Any, Any],
    action: str,
    by: str,
    comment: str,
    key: Path | None,
    unsigned: bool,
) -> SignedDecision | None:
    """Sign when the promotion's environments refuse unsigned decisions (or --key says so)."""
    state = await query_state(handle)
    refused = [env for env, v in sorted(state.unsigned_decisions.items()) if v == "refused"]
    return decision_signature(
        action, handle.id, by, comment, key=key, unsigned=unsigned, refused_unsigned_in=refused
    )


def _refusal(e: WorkflowUpdateFailedError) -> str:
    from temporalio.exceptions import ApplicationError

    cause: BaseException | None = e.cause
    msg = cause.message if isinstance(cause, ApplicationError) else str(cause or e)
    for prefix in (
        "approval refused: ",
        "rejection refused: ",
        "override refused: ",
        "rollback refused: ",
    ):
        msg = msg.removeprefix(prefix)
    return msg


async def _update(
    client: Client,
    found: Found,
    handle: WorkflowHandle[Any, Any],
    name: str,
    arg: Any,
    wait_s: float,
) -> PromotionState:
    """Run an update; a refusal, a missing workflow or a silent worker become `UserError`s."""
    from temporalio.client import (
        WorkflowUpdateFailedError,
        WorkflowUpdateRPCTimeoutOrCancelledError,
    )
    from temporalio.service import RPCError, RPCStatusCode

    from rollway.models import PromotionState

    try:
        state: PromotionState = await asyncio.wait_for(
            handle.execute_update(
                name, arg, result_type=PromotionState, rpc_timeout=timedelta(seconds=wait_s)
            ),
            wait_s,
        )
        return state
    except WorkflowUpdateFailedError as e:
        raise UserError(f"refused: {_refusal(e)}") from None
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            found2 = await find(client, found.workflow_id)
            if not found2.running:  # the same words the workflow's validator uses
                nothing = "nothing to roll back: " if name == "rollback" else ""
                raise UserError(
                    f"refused: {nothing}the promotion has ended ({await _ended(client, found2)})"
                ) from None
            raise not_found(found.workflow_id) from None
        raise UserError(f"{name} of {found.workflow_id} failed: {e.message}") from None
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        raise UserError(
            f"no worker answered the {name} of {found.workflow_id} within "
            f"{wait_s:.0f}s: is `rollway worker` (or `rollway up`) running?"
        ) from None


def _decide(
    ref: str, by: str, comment: str, decision: str, key: Path | None, unsigned: bool
) -> None:
    from rollway.models import ApprovalInput

    async def main() -> None:
        if not by.strip():
            raise UserError("--by must name who decides (e.g. --by alice)", 2)
        client = await connect()
        found, handle = await _target(client, ref, decision)
        signed = await _signature(handle, decision, by, comment, key, unsigned)
        inp = ApprovalInput(by=by, comment=comment, signed=signed)
        state = await _update(client, found, handle, decision, inp, UPDATE_TIMEOUT)
        approved = len([a for a in state.approvals if a.decision == "approve"])
        need = max(0, state.approvals_required - approved)
        console = out()
        if decision == "approve":
            console.print(
                f"[green]approved[/green] {found.workflow_id} by {escape(by)} "
                f"({approved}/{state.approvals_required}); "
                + (f"still needed: {need}" if need else "no more approvals needed")
            )
        else:
            console.print(
                f"[red]rejected[/red] {found.workflow_id} by {escape(by)}: the "
                "promotion stops without touching production"
            )

    run(main())


def approve(
    ref: Ref, by: By, comment: Comment = "", key: KeyOpt = None, unsigned: UnsignedOpt = False
) -> None:
    """Approve a promotion waiting at its approval stage (refusals exit 1)."""
    _decide(ref, by, comment, "approve", key, unsigned)


def reject(
    ref: Ref, by: By, comment: Comment = "", key: KeyOpt = None, unsigned: UnsignedOpt = False
) -> None:
    """Reject a promotion waiting at its approval stage (refusals exit 1)."""
    _decide(ref, by, comment, "reject", key, unsigned)


def rollback(
    ref: Ref,
    by: ByDefault = None,
    reason: Reason = "",
    key: KeyOpt = None,
    unsigned: UnsignedOpt = False,
) -> None:
    """Roll back now: traffic to stable; waits until the promotion has ended."""
    from rollway.models import ActionInput, Outcome

    async def main() -> None:
        client = await connect()
        found, handle = await _target(client, ref, "roll back")
        who = by or default_user()
        signed = await _signature(handle, "rollback", who, reason, key, unsigned)
        out().print(f"rolling back {found.workflow_id} ...")
        state = await _update(
            client,
            found,
            handle,
            "rollback",
            ActionInput(by=who, reason=reason, signed=signed),
            ROLLBACK_TIMEOUT,
        )
        style = "yellow" if state.outcome == Outcome.ROLLED_BACK else "red"
        out().print(f"[{style}]{state.outcome.value}[/{style}]: {escape(state.reason)}")

    run(main())


def _signal(
    ref: Ref,
    by: str | None,
    reason: str,
    name: str,
    verb: str,
    key: Path | None = None,
    unsigned: bool = False,
) -> None:
    from temporalio.service import RPCError, RPCStatusCode

    from rollway.models import ActionInput

    async def main() -> None:
        client = await connect()
        found, handle = await _target(client, ref, name)
        if name in ("pause", "resume"):
            state = await query_state(handle)
            if state.canary is None:
                raise UserError(
                    f"refused: {name} applies to the canary; {found.workflow_id} is "
                    f"at stage {state.stage.value}"
                )
            if state.canary.paused == (name == "pause"):
                out().print(f"{found.workflow_id} is already {verb}")
                return
        who = by or default_user()
        signed = await _signature(handle, name, who, reason, key, unsigned)
        try:
            await handle.signal(name, ActionInput(by=who, reason=reason, signed=signed))
        except RPCError as e:
            if e.status == RPCStatusCode.NOT_FOUND:
                raise not_found(found.workflow_id) from None
            raise UserError(f"{name} of {found.workflow_id} failed: {e.message}") from None
        out().print(
            f"{name} requested for {found.workflow_id}"
            + (f" ({escape(reason)})" if reason else "")
            + (" (signed)" if signed is not None else "")
            + f"; see `rollway status {found.workflow_id}` (its audit says if it was refused)"
        )

    run(main())


def abort(
    ref: Ref,
    by: ByDefault = None,
    reason: Reason = "",
    key: KeyOpt = None,
    unsigned: UnsignedOpt = False,
) -> None:
    """Stop a promotion (rolls the canary back if traffic moved); does not wait."""
    _signal(ref, by, reason, "abort", "abort", key, unsigned)


def pause(
    ref: Ref,
    by: ByDefault = None,
    reason: Reason = "",
    key: KeyOpt = None,
    unsigned: UnsignedOpt = False,
) -> None:
    """Hold the canary at its current weight (analysis keeps running)."""
    _signal(ref, by, reason, "pause", "paused", key, unsigned)


def resume(
    ref: Ref,
    by: ByDefault = None,
    reason: Reason = "",
    key: KeyOpt = None,
    unsigned: UnsignedOpt = False,
) -> None:
    """Resume a paused canary."""
    _signal(ref, by, reason, "resume", "resumed", key, unsigned)
