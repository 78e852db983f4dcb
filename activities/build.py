"""The build stage: run the pipeline's build and hand back the artifact."""

from __future__ import annotations

from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

from rollway.build import BuildFailed, artifact_dir, run_build
from rollway.home import home
from rollway.models import BuildInput, BuildResult
from rollway.providers.aws.config import CodeBuildConfig
from rollway.security.inputs import InputError, check_commit, check_name, check_version
from rollway.spec import CommandBuild


@activity.defn(name="build")
def build(inp: BuildInput) -> BuildResult:
    """Run the build command with heartbeats; a failure carries its log tail."""
    spec = inp.build
    try:
        check_name(inp.service, "service")
        check_version(inp.version, "version")
        check_commit(inp.commit, "commit")
    except InputError as e:
        raise ApplicationError(str(e), type="InvalidInput", non_retryable=True) from None
    if isinstance(spec, CodeBuildConfig):
        from activities.aws import run_codebuild

        return run_codebuild(inp, spec)
    if not isinstance(spec, CommandBuild):
        artifact = spec.artifact.replace("{commit}", inp.commit).replace("{version}", inp.version)
        if artifact.startswith(("/", ".")) and not Path(artifact).exists():
            raise ApplicationError(
                f"build.artifact {artifact} does not exist: CI must produce it before promoting",
                non_retryable=True,
            )
        return BuildResult(artifact=artifact, reused=True)
    out = artifact_dir(home(), inp.service, inp.version, inp.commit)
    env = {"COMMIT": inp.commit, "VERSION": inp.version, "SERVICE": inp.service} | spec.env
    try:
        reused, tail = run_build(
            command=spec.command,
            workdir=(Path(inp.pipeline_dir) / spec.workdir).resolve(),
            out=out,
            env=env,
            timeout_s=spec.timeout.total_seconds(),
            progress=lambda line: activity.heartbeat(line[-200:]),
            cancelled=activity.is_cancelled,
        )
    except BuildFailed as e:
        raise ApplicationError(str(e), type="BuildFailed", non_retryable=True) from e
    return BuildResult(artifact=str(out), reused=reused, log_tail=tail)
