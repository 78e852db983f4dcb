"""Build and image stages: the commit becomes an artifact (pinned by digest with `image:`).

Also the audit archive, which writes the finished promotion's record (`audit:`).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from rollway.models import (
        ArchiveInput,
        AuditRecordRef,
        BuildInput,
        BuildResult,
        ImageRef,
        Outcome,
        ResolveImageInput,
        Stage,
    )
    from workflows.promotion import options
    from workflows.promotion.calls import activity
    from workflows.promotion.context import Promotion, Stop, cause


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
            pipeline_dir=p.inp.pipeline_dir,
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
    if p.spec.audit is None:
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
