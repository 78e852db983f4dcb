"""`rollway promote`: start (or attach to) the promotion of one commit."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import yaml
from rich.markup import escape

from rollway import TASK_QUEUE
from rollway.cli.common import (
    UserError,
    connect,
    default_user,
    err,
    out,
    run,
    user_errors,
    workflow_link,
)
from rollway.cli.output import OUTCOME_EXIT, Exit, Format, dump

if TYPE_CHECKING:
    from temporalio.client import Client

    from rollway.models import PromotionInput, PromotionState
    from rollway.spec import PipelineSpec

WORKFLOW = "PromotionWorkflow"


def workflow_id(service: str, commit: str) -> str:
    """One promotion per service and commit: `promote-<service>-<commit>`."""
    return f"promote-{service}-{commit}"


def known_services(folder: Path) -> list[str]:
    """Services with a `pipelines/<service>.yaml` whose `service:` matches its file name."""
    names = []
    for p in sorted(folder.glob("*.yaml")):
        try:
            data = yaml.safe_load(p.read_text())
        except (OSError, yaml.YAMLError):
            continue
        if isinstance(data, dict) and data.get("service") == p.stem:
            names.append(p.stem)
    return names


def check_flags(service: str, version: str, commit: str) -> None:
    """Flag checks that need nothing but the flags."""
    from rollway.spec import COMMIT_RE, NAME_RE

    if not NAME_RE.match(service):
        raise UserError(
            f"--service '{service}' is not a valid service name (lowercase letters, "
            "digits and dashes, starting and ending with a letter or digit)",
            2,
        )
    if not version.strip():
        raise UserError("--version must not be empty (e.g. --version v2)", 2)
    if not COMMIT_RE.match(commit):
        raise UserError(
            f"--commit '{commit}' is not a commit sha: give 7 to 40 lowercase hex "
            "digits (e.g. `--commit $(git rev-parse HEAD)`)",
            2,
        )


def parse_commit_time(text: str | None, now: datetime | None = None) -> datetime | None:
    """`--commit-time`: ISO 8601 with a zone (`git show -s --format=%cI`) or Unix seconds."""
    if text is None:
        return None
    fix = "e.g. --commit-time $(git show -s --format=%cI HEAD)"
    try:
        at = (
            datetime.fromtimestamp(int(text), UTC)
            if text.strip().isdigit()
            else datetime.fromisoformat(text.strip())
        )
    except (ValueError, OverflowError, OSError):
        raise UserError(f"--commit-time '{text}' is not a time: {fix}", 2) from None
    if at.tzinfo is None:
        raise UserError(f"--commit-time '{text}' has no time zone: {fix}", 2)
    if at > (now or datetime.now(UTC)) + timedelta(minutes=10):
        raise UserError(f"--commit-time '{text}' is in the future: check CI's clock ({fix})", 2)
    return at


def pipeline_path(service: str, pipeline: str | Path | None) -> Path | None:
    """The local pipeline file: --pipeline FILE, else `<catalog>/<NAME or service>.yaml`.

    None when --pipeline names a catalog entry this machine does not hold (the worker's
    catalog may be a git repository): the worker validates it.
    """
    from rollway.security.inputs import InputError
    from rollway.spec_catalog import check_pipeline_name, local_catalog

    if pipeline is not None and Path(pipeline).is_file():
        return Path(pipeline).resolve()
    catalog = local_catalog()
    if pipeline is not None:
        try:
            name = check_pipeline_name(str(pipeline), "--pipeline")
        except InputError as e:
            raise UserError(f"{e}; or give the path of a pipeline file", 2) from None
        found = [catalog / f"{name}{ext}" for ext in (".yaml", ".yml")]
        return next((f.resolve() for f in found if f.is_file()), None)
    path = catalog / f"{service}.yaml"
    if not path.is_file():
        known = ", ".join(known_services(catalog)) or "none"
        shown = path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path
        raise UserError(
            f"unknown service '{service}': no {shown}; known services: {known} "
            "(or pass --pipeline NAME|FILE)",
            2,
        )
    return path.resolve()


def catalog_name(path: Path) -> str:
    """The catalog name of a local pipeline file (its path under the catalog, no suffix)."""
    from rollway.spec_catalog import ENV_DIR, local_catalog

    root = local_catalog().resolve()
    if not path.is_relative_to(root):
        raise UserError(
            f"{path} is not in the pipeline catalog ({root}; set {ENV_DIR} to change it): "
            "workers load pipelines by name from their catalog, so add the file there, or "
            "send it with --inline (accepted by development workers only, e.g. `rollway up`)",
            2,
        )
    return path.relative_to(root).with_suffix("").as_posix()


def load_spec(path: Path, service: str) -> PipelineSpec:
    """Validate the pipeline; every problem with its path; its service must match."""
    from rollway.spec_loader import SpecError, load_pipeline

    try:
        spec = load_pipeline(path)
    except SpecError as e:
        raise UserError(str(e), 2) from None
    if spec.service != service:
        raise UserError(
            f"--service '{service}' does not match the pipeline {path} "
            f"(service: {spec.service}); pass --service {spec.service} or the "
            f"right --pipeline",
            2,
        )
    return spec


def summary(inp: PromotionInput, spec: PipelineSpec | None = None) -> str:
    """One line for the Temporal UI's list and workflow header (set once, at start)."""
    spec = spec or inp.pipeline
    where = f" to {spec.canary.environment}" if spec is not None else ""
    return f"{inp.service} {inp.version} ({inp.commit[:12]}){where}"


def details(inp: PromotionInput, spec: PipelineSpec | None = None) -> str:
    """The Temporal UI's static details (Markdown): what was asked, by whom, which pipeline."""
    spec = spec or inp.pipeline
    source = (
        f"inline from `{inp.pipeline_dir}` (development workers only)"
        if inp.pipeline is not None
        else f"`{inp.pipeline_name or inp.service}` from the worker's catalog"
    )
    lines = [
        f"**{inp.service}** {inp.version}",
        "",
        f"- commit: `{inp.commit}`",
        f"- pipeline: {source}",
    ]
    if spec is not None:
        steps = " → ".join(f"{s.weight}%" for s in spec.canary.steps)
        lines.append(f"- canary in {spec.canary.environment}: {steps}")
    lines.append(f"- requested by: {inp.requested_by}" + (" (hotfix)" if inp.hotfix else ""))
    return "\n".join(lines)


@dataclass
class Started:
    workflow_id: str
    run_id: str | None
    attached: bool
    running_version: str | None = None  # what the attached promotion really promotes


async def start(client: Client, inp: PromotionInput, spec: PipelineSpec | None = None) -> Started:
    """Start the workflow, or attach to the one already promoting this commit.

    `spec`: the local copy of the named pipeline, for the UI's summary and the
    environment search attribute (the worker loads its own copy from its catalog).
    """
    from temporalio.client import WorkflowExecutionStatus
    from temporalio.common import (
        SearchAttributeKey,
        SearchAttributePair,
        TypedSearchAttributes,
        WorkflowIDConflictPolicy,
    )
    from temporalio.service import RPCError, RPCStatusCode

    wid = workflow_id(inp.service, inp.commit)
    running_run: str | None = None
    running_version: str | None = None
    try:
        desc = await client.get_workflow_handle(wid).describe()
        if desc.status == WorkflowExecutionStatus.RUNNING:
            running_run = desc.run_id
            version = await desc.memo_value("version", None)
            running_version = version if isinstance(version, str) else None
    except RPCError as e:
        if e.status != RPCStatusCode.NOT_FOUND:
            raise UserError(f"cannot describe {wid}: {e.message}") from None
    spec = spec or inp.pipeline
    environment = (
        [
            SearchAttributePair(
                SearchAttributeKey.for_keyword("RollwayEnvironment"), spec.canary.environment
            )
        ]
        if spec is not None
        else []
    )
    attrs = TypedSearchAttributes(
        [
            SearchAttributePair(SearchAttributeKey.for_keyword("RollwayService"), inp.service),
            *environment,
            SearchAttributePair(SearchAttributeKey.for_keyword("RollwayCommit"), inp.commit),
            SearchAttributePair(SearchAttributeKey.for_keyword("RollwayStage"), "pending"),
            # Set here so the workflow knows the namespace has it; upserted at the end.
            SearchAttributePair(SearchAttributeKey.for_keyword("RollwayOutcome"), "running"),
        ]
    )
    try:
        handle = await client.start_workflow(
            WORKFLOW,
            inp,
            id=wid,
            task_queue=TASK_QUEUE,
            search_attributes=attrs,
            memo={
                "service": inp.service,
                "version": inp.version,
                "commit": inp.commit,
                "requested_by": inp.requested_by,
            },
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            static_summary=summary(inp, spec),
            static_details=details(inp, spec),
        )
    except RPCError as e:
        raise UserError(f"could not start {wid}: {e.message}") from None
    run_id = handle.result_run_id
    attached = running_run is not None and run_id == running_run
    return Started(wid, run_id, attached=attached, running_version=running_version)


def announce(s: Started, inp: PromotionInput) -> None:
    verb = "attached to running promotion" if s.attached else "started promotion"
    version = s.running_version if s.attached and s.running_version else inp.version
    console = out()
    console.print(
        f"[green]{verb}[/green] [bold]{s.workflow_id}[/bold] "
        f"({escape(inp.service)} {escape(version)} at {inp.commit[:12]})"
    )
    if s.attached and s.running_version and s.running_version != inp.version:
        console.print(
            f"  [yellow]commit {inp.commit[:12]} is already being promoted as "
            f"{escape(s.running_version)}, not {escape(inp.version)}[/yellow]"
        )
    if link := workflow_link(s.workflow_id):
        console.print(f"  UI: {link}")
    console.print(f"  follow it: rollway status {s.workflow_id} --watch")


@dataclass
class Request:
    """What `promote` sends, and the local copy of its pipeline (None: only the worker has it)."""

    inp: PromotionInput
    spec: PipelineSpec | None


def build_input(
    service: str,
    version: str,
    commit: str,
    pipeline: str | Path | None,
    by: str,
    author: str | None = None,
    hotfix: bool = False,
    commit_time: str | None = None,
    inline: bool = False,
) -> Request:
    """All the checks that need no server, then the workflow input.

    The input names the pipeline in the worker's catalog; a local file is resolved to
    its catalog name and validated here for early errors. `inline` sends the spec
    itself instead (development workers only).
    """
    from rollway.models import PromotionInput

    check_flags(service, version, commit)
    committed = parse_commit_time(commit_time)
    path = pipeline_path(service, pipeline)
    spec = load_spec(path, service) if path is not None else None
    common: dict[str, Any] = {
        "service": service,
        "version": version,
        "commit": commit,
        "requested_by": by,
        "author": author,
        "hotfix": hotfix,
        "commit_time": committed,
    }
    if inline:
        if path is None or spec is None:
            raise UserError(f"--inline needs a pipeline file; {pipeline} is not one", 2)
        inp = PromotionInput(**common, pipeline=spec, pipeline_dir=str(path.parent))
        return Request(inp, spec)
    name = catalog_name(path) if path is not None else str(pipeline)
    return Request(PromotionInput(**common, pipeline_name=name), spec)


def result_document(
    s: Started, state: PromotionState | None, outcome: str, reason: str
) -> dict[str, Any]:
    """What `promote -o json` prints: stable keys for CI."""
    return {
        "workflow_id": s.workflow_id,
        "run_id": s.run_id,
        "attached": s.attached,
        "outcome": outcome,
        "reason": reason,
        "exit_code": int(OUTCOME_EXIT.get(outcome, Exit.FAILED)),
        "url": workflow_link(s.workflow_id),
        "service": state.service if state else None,
        "version": state.version if state else None,
        "commit": state.commit if state else None,
        "stage": state.stage.value if state else None,
        "stable_version": state.stable_version if state else None,
    }


async def wait_for_end(
    client: Client, s: Started, limit_s: float | None
) -> tuple[str, str, PromotionState | None]:
    """Wait for the run to close: (outcome, reason, final state when the worker answers)."""
    from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
    from temporalio.service import RPCError

    from rollway.models import PromotionResult

    handle = client.get_workflow_handle(s.workflow_id, run_id=s.run_id, result_type=PromotionResult)
    try:
        result = await asyncio.wait_for(handle.result(), limit_s)
    except TimeoutError:
        state = await _state_or_none(handle)
        return "running", f"still running after {limit_s:.0f}s (--timeout)", state
    except WorkflowFailureError as e:
        desc = await handle.describe()
        status = desc.status or WorkflowExecutionStatus.FAILED
        terminated = status == WorkflowExecutionStatus.TERMINATED
        cause = await _termination_reason(handle) if terminated else None
        if cause is None:
            cause = getattr(e.cause, "message", None) or str(e)
        return (
            "terminated" if terminated else "failed",
            f"workflow {status.name.lower()}: {cause}",
            None,
        )
    except RPCError as e:
        raise UserError(f"lost track of {s.workflow_id}: {e.message}") from None
    state = result.state or await _state_or_none(handle)
    return result.outcome.value, result.reason, state


async def _termination_reason(handle: Any) -> str | None:
    """The reason given to `temporal workflow terminate`, from the closing event."""
    from temporalio.client import WorkflowHistoryEventFilterType

    async for event in handle.fetch_history_events(
        event_filter_type=WorkflowHistoryEventFilterType.CLOSE_EVENT
    ):
        if event.HasField("workflow_execution_terminated_event_attributes"):
            reason: str = event.workflow_execution_terminated_event_attributes.reason
            return reason or None
    return None


async def _state_or_none(handle: Any) -> PromotionState | None:
    from rollway.cli.status import query_state

    try:
        return await query_state(handle, wait_s=5)
    except UserError:
        return None


def promote(
    service: Annotated[str, typer.Option(help="The service, e.g. demo.")],
    version: Annotated[str, typer.Option(help="The version to promote, e.g. v2.")],
    commit: Annotated[str, typer.Option(help="The commit it is built from (7-40 hex).")],
    pipeline: Annotated[
        str | None,
        typer.Option(
            help="The pipeline's name in the worker's catalog, or a file in the local catalog "
            "(default: the service's name; the local catalog is $ROLLWAY_PIPELINE_CATALOG, "
            "else ./pipelines)."
        ),
    ] = None,
    inline: Annotated[
        bool,
        typer.Option(
            "--inline",
            help="Send the pipeline file itself (any path): development workers only.",
        ),
    ] = False,
    by: Annotated[str | None, typer.Option(help="Who asks (default: your user name).")] = None,
    watch_: Annotated[bool, typer.Option("--watch", "-w", help="Then follow it live.")] = False,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait",
            help="Wait until it ends; exit 0 only when promoted (3 rolled back, 4 rejected, "
            "5 aborted/superseded, 6 failed, 7 timeout). For CI.",
        ),
    ] = False,
    timeout: Annotated[
        float | None,
        typer.Option(help="With --wait: give up waiting after this many seconds (exit 7)."),
    ] = None,
    output: Annotated[
        Format,
        typer.Option("--output", "-o", help="table for people; json or yaml for CI."),
    ] = Format.TABLE,
    author: Annotated[
        str | None, typer.Option(help="The commit's author (may not approve it, by default).")
    ] = None,
    hotfix: Annotated[
        bool, typer.Option(help="Take the policy's hotfix path (schedule bypass with approval).")
    ] = False,
    commit_time: Annotated[
        str | None,
        typer.Option(
            help="When the commit was made: ISO 8601 with a zone or Unix seconds, e.g. "
            "$(git show -s --format=%cI HEAD). DORA lead time starts here (`rollway dora`)."
        ),
    ] = None,
) -> None:
    """Promote VERSION of SERVICE: build, scan, staging, approval, canary, 100 %."""
    with user_errors():
        request = build_input(
            service,
            version,
            commit,
            pipeline,
            by or default_user(),
            author=author,
            hotfix=hotfix,
            commit_time=commit_time,
            inline=inline,
        )
    inp = request.inp
    machine = output != Format.TABLE

    async def main() -> int:
        client = await connect()
        s = await start(client, inp, request.spec)
        if not machine:
            announce(s, inp)
        if watch_ and not machine:
            from rollway.cli.status import watch

            final = await watch(client, s.workflow_id)
            if not wait:
                return 0
            return int(OUTCOME_EXIT.get(final.outcome.value, Exit.FAILED))
        if not wait:
            if machine:
                typer.echo(dump(result_document(s, None, "running", "started"), output))
            return 0
        if not machine:
            err().print(f"waiting for {s.workflow_id} to end ...")
        outcome, reason, state = await wait_for_end(client, s, timeout)
        code = int(OUTCOME_EXIT.get(outcome, Exit.FAILED))
        if machine:
            typer.echo(dump(result_document(s, state, outcome, reason), output))
        else:
            style = "green" if code == 0 else "red"
            out().print(f"[{style}]{outcome}[/{style}]: {escape(reason)} (exit {code})")
        return code

    code = run(main())
    if code:
        raise typer.Exit(code)
