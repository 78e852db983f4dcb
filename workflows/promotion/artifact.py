"""Pipeline, build and image stages: the worker's pipeline, then the commit becomes an
artifact (pinned by digest with `image:`).

Also the audit archive, which writes the finished promotion's record (`audit:`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from rollway.models import (
        ArchiveInput,
        AuditRecordRef,
        BuildInput,
        BuildResult,
        ImageRef,
        LoadedPipeline,
        LoadPipelineInput,
        Outcome,
        ResolveImageInput,
        Stage,
    )
    from workflows.promotion import options
    from workflows.promotion.calls import activity
    from workflows.promotion.context import Promotion, Stop, cause


LOAD_PIPELINE: dict[str, Any] = {
    "start_to_close_timeout": timedelta(minutes=2),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=1),
        maximum_interval=timedelta(seconds=10),
        maximum_attempts=5,
    ),
}


async def load_pipeline(p: Promotion) -> None:
    """Activity `load_pipeline`: the spec from the worker's catalog, with its digest.

    An inline spec in the input counts only when the worker vouches for it (development
    workers); until then the promotion has no pipeline, and a refusal runs nothing.
    """
    inline = p.inp.pipeline
    p.forget_spec()
    name = "inline" if inline is not None else (p.inp.pipeline_name or p.inp.service)
    p.state.pipeline = "" if inline is not None else name
    action = f"load pipeline {name}"
    try:
        loaded = await workflow.execute_activity(
            "load_pipeline",
            LoadPipelineInput(service=p.inp.service, name=p.inp.pipeline_name, inline=inline),
            result_type=LoadedPipeline,
            **LOAD_PIPELINE,
        )
    except ActivityError as e:
        p.keeper.audit("rollway", action, accepted=False, reason=cause(e))
        raise Stop(Outcome.FAILED, f"pipeline refused: {cause(e)}") from None
    p.use_spec(loaded.spec)
    p.pipeline_dir = p.inp.pipeline_dir if loaded.inline else loaded.pipeline_dir
    p.state.pipeline_digest = loaded.digest
    p.state.pipeline_source = loaded.source
    p.keeper.audit("rollway", action, reason=f"{loaded.digest} from {loaded.source}")


async def build(p: Promotion) -> str:
    """Activity `build`: the pipeline's build command (or CodeBuild) into an artifact."""
    if p.spec.build is None:
        raise Stop(Outcome.FAILED, "the pipeline has no build stage and no artifact")
    p.keeper.enter(Stage.BUILD, f"building {p.inp.version} at {p.inp.commit[:12]}")
    timeout = getattr(p.spec.build, "timeout", timedelta(minutes=5))
    result = await activity(
        p,
        "build",
        BuildInput(
            service=p.inp.service,
            version=p.inp.version,
            commit=p.inp.commit,
            build=p.spec.build,
            pipeline_dir=p.pipeline_dir,
        ),
        BuildResult,
        options.build_options(timeout),
        what="build",
    )
    p.state.artifact = result.artifact
    p.keeper.log("artifact reused" if result.reused else f"built {result.artifact}")
    return result.artifact


async def resolve_image(p: Promotion, artifact: str) -> str:
    """Activity `resolve_image`: with `image:` set, pin the commit's image by its digest."""
    if p.spec.image is None:
        return artifact
    ref = await activity(
        p,
        "resolve_image",
        ResolveImageInput(service=p.inp.service, commit=p.inp.commit, image=p.spec.image),
        ImageRef,
        options.PLATFORM,
        what="image lookup",
    )
    p.state.artifact = ref.reference
    p.keeper.log(f"image {ref.repository}:{ref.tag} is {ref.reference}")
    return ref.reference


async def archive(p: Promotion) -> None:
    """Activity `archive_audit`: with `audit:` set, write the record to S3 (idempotent)."""
    if not p.has_spec or p.spec.audit is None:
        return
    record = p.state.model_dump(mode="json")
    try:
        ref = await workflow.execute_activity(
            "archive_audit",
            ArchiveInput(
                service=p.inp.service,
                workflow_id=workflow.info().workflow_id,
                finished_at=p.state.finished_at or workflow.now(),
                record=record,
                audit=p.spec.audit,
            ),
            result_type=AuditRecordRef,
            **options.PLATFORM,
        )
        p.keeper.log(f"record archived to {ref.uri}")
    except ActivityError as e:
        p.keeper.log(f"audit archive failed (the outcome stands): {cause(e)}")
