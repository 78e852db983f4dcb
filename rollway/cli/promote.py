"""`rollway promote`: start (or attach to) the promotion of one commit."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.markup import escape
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
)
from temporalio.service import RPCError, RPCStatusCode

from rollway import TASK_QUEUE
from rollway.cli.common import (
    UserError,
    connect,
    default_user,
    out,
    run,
    user_errors,
    workflow_link,
)
from rollway.cli.status import watch
from rollway.models import PromotionInput
from rollway.spec import COMMIT_RE, NAME_RE, PipelineSpec
from rollway.spec_loader import SpecError, load_pipeline

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


def pipeline_path(service: str, pipeline: Path | None) -> Path:
    """The pipeline file: --pipeline, else `pipelines/<service>.yaml` under the current folder."""
    if pipeline is not None:
        if not pipeline.is_file():
            raise UserError(f"--pipeline {pipeline}: file not found", 2)
        return pipeline.resolve()
    folder = Path.cwd() / "pipelines"
    path = folder / f"{service}.yaml"
    if not path.is_file():
        known = ", ".join(known_services(folder)) or "none"
        raise UserError(
            f"unknown service '{service}': no pipelines/{service}.yaml; known "
            f"services: {known} (or pass --pipeline FILE)",
            2,
        )
    return path.resolve()


def load_spec(path: Path, service: str) -> PipelineSpec:
    """Validate the pipeline; every problem with its path; its service must match."""
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


def summary(inp: PromotionInput) -> str:
    """One line for the Temporal UI's list and workflow header (set once, at start)."""
    return f"{inp.service} {inp.version} ({inp.commit[:12]}) to {inp.pipeline.canary.environment}"


def details(inp: PromotionInput) -> str:
    """The Temporal UI's static details (Markdown): what was asked, by whom, which pipeline."""
    steps = " → ".join(f"{s.weight}%" for s in inp.pipeline.canary.steps)
    lines = [
        f"**{inp.service}** {inp.version}",
        "",
        f"- commit: `{inp.commit}`",
        f"- pipeline: `{inp.pipeline_dir}` (service `{inp.pipeline.service}`)",
        f"- canary in {inp.pipeline.canary.environment}: {steps}",
        f"- requested by: {inp.requested_by}" + (" (hotfix)" if inp.hotfix else ""),
    ]
    return "\n".join(lines)


@dataclass
class Started:
    workflow_id: str
    run_id: str | None
    attached: bool


async def start(client: Client, inp: PromotionInput) -> Started:
    """Start the workflow, or attach to the one already promoting this commit."""
    wid = workflow_id(inp.service, inp.commit)
    running_run: str | None = None
    try:
        desc = await client.get_workflow_handle(wid).describe()
        if desc.status == WorkflowExecutionStatus.RUNNING:
            running_run = desc.run_id
    except RPCError as e:
        if e.status != RPCStatusCode.NOT_FOUND:
            raise UserError(f"cannot describe {wid}: {e.message}") from None
    attrs = TypedSearchAttributes(
        [
            SearchAttributePair(SearchAttributeKey.for_keyword("RollwayService"), inp.service),
            SearchAttributePair(
                SearchAttributeKey.for_keyword("RollwayEnvironment"),
                inp.pipeline.canary.environment,
            ),
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
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            static_summary=summary(inp),
            static_details=details(inp),
        )
    except RPCError as e:
        raise UserError(f"could not start {wid}: {e.message}") from None
    run_id = handle.result_run_id
    return Started(wid, run_id, attached=running_run is not None and run_id == running_run)


def announce(s: Started, inp: PromotionInput) -> None:
    verb = "attached to running promotion" if s.attached else "started promotion"
    console = out()
    console.print(
        f"[green]{verb}[/green] [bold]{s.workflow_id}[/bold] "
        f"({escape(inp.service)} {escape(inp.version)} at {inp.commit[:12]})"
    )
    if link := workflow_link(s.workflow_id):
        console.print(f"  UI: {link}")
    console.print(f"  follow it: rollway status {s.workflow_id} --watch")


def build_input(
    service: str,
    version: str,
    commit: str,
    pipeline: Path | None,
    by: str,
    author: str | None = None,
    hotfix: bool = False,
) -> PromotionInput:
    """All the checks that need no server, then the workflow input."""
    check_flags(service, version, commit)
    path = pipeline_path(service, pipeline)
    spec = load_spec(path, service)
    return PromotionInput(
        service=service,
        version=version,
        commit=commit,
        pipeline=spec,
        pipeline_dir=str(path.parent),
        requested_by=by,
        author=author,
        hotfix=hotfix,
    )


def promote(
    service: Annotated[str, typer.Option(help="The service, e.g. demo.")],
    version: Annotated[str, typer.Option(help="The version to promote, e.g. v2.")],
    commit: Annotated[str, typer.Option(help="The commit it is built from (7-40 hex).")],
    pipeline: Annotated[
        Path | None, typer.Option(help="Pipeline file (default: pipelines/<service>.yaml).")
    ] = None,
    by: Annotated[str | None, typer.Option(help="Who asks (default: your user name).")] = None,
    watch_: Annotated[bool, typer.Option("--watch", "-w", help="Then follow it live.")] = False,
    author: Annotated[
        str | None, typer.Option(help="The commit's author (may not approve it, by default).")
    ] = None,
    hotfix: Annotated[
        bool, typer.Option(help="Take the policy's hotfix path (schedule bypass with approval).")
    ] = False,
) -> None:
    """Promote VERSION of SERVICE: build, scan, staging, approval, canary, 100 %."""
    with user_errors():
        inp = build_input(
            service, version, commit, pipeline, by or default_user(), author=author, hotfix=hotfix
        )

    async def main() -> None:
        client = await connect()
        s = await start(client, inp)
        announce(s, inp)
        if watch_:
            await watch(client, s.workflow_id)

    run(main())
