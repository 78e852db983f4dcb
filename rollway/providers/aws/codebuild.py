"""Build a commit with AWS CodeBuild: start once, reattach on retry, poll, stop on cancel.

Idempotency, in order:
1. `known_build_id`: the id the activity recorded in its last heartbeat. If that
   build exists (same project and commit), reattach to it; never start a second.
2. `idempotency_key` (e.g. the workflow id + activity id): passed as CodeBuild's
   `idempotencyToken` (deduplicates a retried StartBuild within 5 minutes) and as
   the env var `ROLLWAY_IDEMPOTENCY_KEY`; before starting, the project's most
   recent builds are searched for one carrying that key (covers a crash between
   StartBuild and the first heartbeat).
3. Otherwise start a build for `sourceVersion=commit`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from rollway.providers.aws.config import CodeBuildConfig
from rollway.providers.aws.errors import AwsError, aws_errors

if TYPE_CHECKING:
    from mypy_boto3_codebuild import CodeBuildClient
    from mypy_boto3_codebuild.type_defs import EnvironmentVariableTypeDef
    from mypy_boto3_logs import CloudWatchLogsClient

IDEMPOTENCY_ENV = "ROLLWAY_IDEMPOTENCY_KEY"
COMMIT_ENV = "ROLLWAY_COMMIT"
TERMINAL_OK = "SUCCEEDED"
IN_PROGRESS = "IN_PROGRESS"
_FAILED_PHASE_STATUSES = {"FAILED", "FAULT", "TIMED_OUT", "STOPPED", "CLIENT_ERROR"}
_MAX_LINE = 500


class BuildInfo(BaseModel):
    """A CodeBuild build as Rollway sees it (no boto3 objects, no env var values)."""

    build_id: str
    arn: str = ""
    project: str
    source_version: str
    resolved_source_version: str | None = None
    status: str = Field(description="IN_PROGRESS, SUCCEEDED, FAILED, FAULT, TIMED_OUT, STOPPED.")
    phase: str = Field(description="Current phase, e.g. BUILD; COMPLETED when done.")
    failed_phase: str | None = None
    failure_context: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    log_group: str | None = None
    log_stream: str | None = None
    log_url: str | None = None
    log_tail: list[str] = Field(default_factory=list)
    attached: bool = Field(default=False, description="True if an existing build was reused.")

    @property
    def done(self) -> bool:
        """True once the build reached a final status."""
        return self.status != IN_PROGRESS


class BuildProgress(BaseModel):
    """Passed to the progress callback on every poll (use it to heartbeat)."""

    build_id: str
    status: str
    phase: str
    log_tail: list[str] = Field(default_factory=list)


class BuildFailedError(AwsError):
    """The build ended in a status other than SUCCEEDED; not retryable."""

    def __init__(self, build: BuildInfo) -> None:
        tail = "\n".join(build.log_tail[-20:]) or "(no log lines)"
        where = f" in phase {build.failed_phase}" if build.failed_phase else ""
        context = f": {build.failure_context}" if build.failure_context else ""
        super().__init__(
            f"CodeBuild build {build.build_id} for commit {build.source_version} "
            f"{build.status}{where}{context}\nLast log lines:\n{tail}",
            kind="failed",
            retryable=False,
            code=build.status,
            operation="BatchGetBuilds",
            resource=build.arn or build.build_id,
        )
        self.build = build


class BuildCancelledError(AwsError):
    """The caller cancelled while the build ran; the build was stopped."""

    def __init__(self, build: BuildInfo) -> None:
        super().__init__(
            f"CodeBuild build {build.build_id} stopped: cancelled by Rollway",
            kind="failed",
            retryable=False,
            code="CANCELLED",
            resource=build.arn or build.build_id,
        )
        self.build = build


class CodeBuildRunner:
    """Run builds of one CodeBuild project. Sync; clients are injected."""

    def __init__(
        self,
        codebuild: CodeBuildClient,
        config: CodeBuildConfig,
        *,
        logs: CloudWatchLogsClient | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        cancel_on: tuple[type[BaseException], ...] = (KeyboardInterrupt,),
    ) -> None:
        self.codebuild = codebuild
        self.logs = logs
        self.config = config
        self.sleep = sleep
        self.clock = clock
        self.cancel_on = cancel_on

    # -- start / reattach --------------------------------------------------------

    def start(
        self,
        commit: str,
        *,
        known_build_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> BuildInfo:
        """Start a build of `commit`, or reattach to the one already started for it."""
        if not commit:
            raise AwsError("no commit to build", kind="invalid")
        if known_build_id:
            known = self.get(known_build_id, missing_ok=True)
            if known is not None:
                self._check_same(known, commit)
                return known.model_copy(update={"attached": True})
        if idempotency_key:
            found = self._find_by_key(idempotency_key, commit)
            if found is not None:
                return found.model_copy(update={"attached": True})

        env: list[EnvironmentVariableTypeDef] = [
            {"name": COMMIT_ENV, "value": commit, "type": "PLAINTEXT"}
        ]
        kwargs: dict[str, Any] = {}
        if idempotency_key:
            env.append({"name": IDEMPOTENCY_ENV, "value": idempotency_key, "type": "PLAINTEXT"})
            kwargs["idempotencyToken"] = idempotency_key[:64]
        minutes = max(5, min(2160, int(self.config.timeout.total_seconds() // 60)))
        with aws_errors(self.codebuild, self._project_resource()):
            resp = self.codebuild.start_build(
                projectName=self.config.project,
                sourceVersion=commit,
                environmentVariablesOverride=env,
                timeoutInMinutesOverride=minutes,
                **kwargs,
            )
        return self._info(dict(resp["build"]))

    def _check_same(self, build: BuildInfo, commit: str) -> None:
        if build.project != self.config.project or build.source_version != commit:
            raise AwsError(
                f"recorded build {build.build_id} is for {build.project}@{build.source_version}, "
                f"not {self.config.project}@{commit}; refusing to reattach",
                kind="invalid",
                resource=build.arn or build.build_id,
            )

    def _find_by_key(self, key: str, commit: str) -> BuildInfo | None:
        with aws_errors(self.codebuild, self._project_resource()):
            ids = self.codebuild.list_builds_for_project(
                projectName=self.config.project, sortOrder="DESCENDING"
            ).get("ids", [])[:100]
            if not ids:
                return None
            builds = self.codebuild.batch_get_builds(ids=ids).get("builds", [])
        for raw in builds:
            env = raw.get("environment", {}).get("environmentVariables", [])
            if any(v.get("name") == IDEMPOTENCY_ENV and v.get("value") == key for v in env):
                info = self._info(dict(raw))
                self._check_same(info, commit)
                return info
        return None

    # -- observe -----------------------------------------------------------------

    def get(self, build_id: str, *, missing_ok: bool = False) -> BuildInfo | None:
        """The build's current state (with log tail), or None if missing and `missing_ok`."""
        try:
            with aws_errors(self.codebuild, self._build_resource(build_id)):
                builds = self.codebuild.batch_get_builds(ids=[build_id]).get("builds", [])
        except AwsError as err:
            if missing_ok and err.kind in ("not-found", "invalid"):
                return None
            raise
        if not builds:
            if missing_ok:
                return None
            raise AwsError(
                f"CodeBuild build {build_id} not found in project {self.config.project} "
                f"({self.config.region})",
                kind="not-found",
                resource=self._build_resource(build_id),
            )
        return self._info(dict(builds[0]))

    def wait(
        self,
        build_id: str,
        *,
        on_progress: Callable[[BuildProgress], None] | None = None,
        is_cancelled: Callable[[], bool] | None = None,
        max_wait: timedelta | None = None,
    ) -> BuildInfo:
        """Poll until the build ends; return it if SUCCEEDED, else raise `BuildFailedError`.

        `on_progress` runs on every poll (heartbeat from it). If `is_cancelled()` turns
        true, or `on_progress`/sleep raise one of `cancel_on`, the build is stopped.
        """
        limit = max_wait or (self.config.timeout + timedelta(minutes=15))
        deadline = self.clock() + limit.total_seconds()
        interval = self.config.poll_interval.total_seconds()
        try:
            while True:
                info = self._with_tail(self._require(build_id))
                if on_progress is not None:
                    on_progress(
                        BuildProgress(
                            build_id=info.build_id,
                            status=info.status,
                            phase=info.phase,
                            log_tail=info.log_tail,
                        )
                    )
                if info.done:
                    if info.status == TERMINAL_OK:
                        return info
                    raise BuildFailedError(info)
                if is_cancelled is not None and is_cancelled():
                    raise BuildCancelledError(self.stop(build_id))
                if self.clock() >= deadline:
                    stopped = self.stop(build_id)
                    raise AwsError(
                        f"CodeBuild build {build_id} still {stopped.phase} after "
                        f"{limit}; stopped it",
                        kind="failed",
                        code="TIMED_OUT",
                        resource=stopped.arn or build_id,
                    )
                self.sleep(interval)
        except self.cancel_on:
            self._stop_quietly(build_id)
            raise

    def run(
        self,
        commit: str,
        *,
        known_build_id: str | None = None,
        idempotency_key: str | None = None,
        on_started: Callable[[BuildInfo], None] | None = None,
        on_progress: Callable[[BuildProgress], None] | None = None,
        is_cancelled: Callable[[], bool] | None = None,
    ) -> BuildInfo:
        """`start` (or reattach), report the id via `on_started` (heartbeat it), then `wait`."""
        started = self.start(commit, known_build_id=known_build_id, idempotency_key=idempotency_key)
        if on_started is not None:
            on_started(started)
        done = self.wait(started.build_id, on_progress=on_progress, is_cancelled=is_cancelled)
        return done.model_copy(update={"attached": started.attached})

    # -- stop --------------------------------------------------------------------

    def stop(self, build_id: str) -> BuildInfo:
        """Stop the build; a build that already ended is returned as is (idempotent)."""
        try:
            with aws_errors(self.codebuild, self._build_resource(build_id)):
                resp = self.codebuild.stop_build(id=build_id)
            return self._info(dict(resp["build"]))
        except AwsError as err:
            if err.kind == "invalid":  # "Build ... is not in progress"
                return self._require(build_id)
            raise

    def _stop_quietly(self, build_id: str) -> None:
        with contextlib.suppress(AwsError):
            self.stop(build_id)

    # -- helpers -----------------------------------------------------------------

    def _require(self, build_id: str) -> BuildInfo:
        info = self.get(build_id)
        assert info is not None
        return info

    def _with_tail(self, info: BuildInfo) -> BuildInfo:
        return info.model_copy(update={"log_tail": self.log_tail(info)})

    def log_tail(self, info: BuildInfo) -> list[str]:
        """The last `log_tail_lines` lines of the build's CloudWatch log, [] if none yet."""
        n = self.config.log_tail_lines
        if self.logs is None or not info.log_group or not info.log_stream or n == 0:
            return []
        resource = f"log group {info.log_group} stream {info.log_stream}"
        try:
            with aws_errors(self.logs, resource):
                resp = self.logs.get_log_events(
                    logGroupName=info.log_group,
                    logStreamName=info.log_stream,
                    limit=n,
                    startFromHead=False,
                )
        except AwsError as err:
            if err.kind == "not-found":  # the stream appears once the build starts logging
                return []
            raise
        lines = [str(e.get("message", "")).rstrip("\n")[:_MAX_LINE] for e in resp["events"]]
        return lines[-n:]

    def _info(self, raw: dict[str, Any]) -> BuildInfo:
        phases = raw.get("phases") or []
        failed = next(
            (p for p in phases if p.get("phaseStatus") in _FAILED_PHASE_STATUSES),
            None,
        )
        context = None
        if failed is not None:
            msgs = [
                c.get("message") or c.get("statusCode") or "" for c in failed.get("contexts") or []
            ]
            context = "; ".join(m for m in msgs if m) or None
        logs = raw.get("logs") or {}
        return BuildInfo(
            build_id=raw["id"],
            arn=raw.get("arn", ""),
            project=raw.get("projectName", self.config.project),
            source_version=raw.get("sourceVersion", ""),
            resolved_source_version=raw.get("resolvedSourceVersion"),
            status=raw.get("buildStatus", IN_PROGRESS),
            phase=raw.get("currentPhase", "UNKNOWN"),
            failed_phase=failed.get("phaseType") if failed else None,
            failure_context=context,
            started_at=_dt(raw.get("startTime")),
            ended_at=_dt(raw.get("endTime")),
            log_group=logs.get("groupName"),
            log_stream=logs.get("streamName"),
            log_url=logs.get("deepLink"),
        )

    def _project_resource(self) -> str:
        return f"CodeBuild project {self.config.project} ({self.config.region})"

    def _build_resource(self, build_id: str) -> str:
        return f"CodeBuild build {build_id} ({self.config.region})"


def _dt(value: Any) -> datetime | None:
    return value if isinstance(value, datetime) else None


__all__ = [
    "BuildCancelledError",
    "BuildFailedError",
    "BuildInfo",
    "BuildProgress",
    "CodeBuildRunner",
]
