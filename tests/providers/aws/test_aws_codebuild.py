"""CodeBuild: one build per commit across retries, progress with log tail, failure, cancel.

moto's CodeBuild completes every build on the first BatchGetBuilds and keeps no
logs config, env var overrides or failed phases: `ScriptedBuilds` (tests/support/aws/moto.py)
drives moto's own build records through the phases each test needs. Log events
are real: written with the CloudWatch Logs API to moto and read back by the adapter.
"""

from __future__ import annotations

from typing import Any

import pytest

from rollway.providers.aws import (
    AwsClients,
    AwsError,
    BuildCancelledError,
    BuildFailedError,
    BuildInfo,
    BuildProgress,
    CodeBuildConfig,
    CodeBuildRunner,
)
from rollway.providers.aws.codebuild import IDEMPOTENCY_ENV
from tests.support.aws.moto import (
    REGION,
    ScriptedBuilds,
    create_project,
    phase,
    running,
    write_log,
)

SHA = "3f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39"
PROJECT = "checkout-build"
CONFIG = CodeBuildConfig(project=PROJECT, region=REGION, timeout="30m", poll_interval="1s")
GROUP = f"/aws/codebuild/{PROJECT}"


@pytest.fixture
def builds(aws: AwsClients, monkeypatch: pytest.MonkeyPatch) -> ScriptedBuilds:
    create_project(aws, PROJECT)
    return ScriptedBuilds(monkeypatch)


def runner(aws: AwsClients, **kw: Any) -> CodeBuildRunner:
    return CodeBuildRunner(aws.codebuild(), CONFIG, logs=aws.logs(), sleep=lambda _: None, **kw)


def test_retried_build_reattaches_to_the_same_build(
    aws: AwsClients, builds: ScriptedBuilds
) -> None:
    heartbeats: list[str] = []

    first = runner(aws).start(SHA)
    heartbeats.append(first.build_id)  # the activity heartbeats the id right away
    assert not first.attached and first.source_version == SHA and first.project == PROJECT

    # The worker died; the retried activity passes the id from its last heartbeat.
    builds.script(first.build_id, running("BUILD", first.build_id))
    again = runner(aws).start(SHA, known_build_id=heartbeats[-1])
    assert again.attached and again.build_id == first.build_id
    assert builds.started(PROJECT) == [first.build_id]  # only one build started

    builds.script(
        first.build_id,
        running("BUILD", first.build_id),
        {"buildStatus": "SUCCEEDED", "currentPhase": "COMPLETED", "resolvedSourceVersion": SHA},
    )
    done = runner(aws).run(SHA, known_build_id=heartbeats[-1])
    assert done.status == "SUCCEEDED" and done.attached
    assert done.resolved_source_version == SHA
    assert builds.started(PROJECT) == [first.build_id]


def test_known_build_for_another_commit_is_refused(aws: AwsClients, builds: ScriptedBuilds) -> None:
    other = runner(aws).start("0" * 40)
    with pytest.raises(AwsError, match="refusing to reattach") as err:
        runner(aws).start(SHA, known_build_id=other.build_id)
    assert not err.value.retryable


def test_unknown_known_build_id_starts_a_new_build(aws: AwsClients, builds: ScriptedBuilds) -> None:
    started = runner(aws).start(
        SHA, known_build_id=f"{PROJECT}:00000000-0000-0000-0000-000000000000"
    )
    assert not started.attached and builds.started(PROJECT) == [started.build_id]


def test_idempotency_key_finds_build_started_before_first_heartbeat(
    aws: AwsClients, builds: ScriptedBuilds
) -> None:
    key = "wf-checkout-42/build"
    first = runner(aws).start(SHA, idempotency_key=key)
    # moto drops environmentVariablesOverride; put it on moto's build record as
    # CodeBuild would report it.
    builds.record(first.build_id)["environment"]["environmentVariables"] = [
        {"name": IDEMPOTENCY_ENV, "value": key, "type": "PLAINTEXT"}
    ]
    builds.script(first.build_id, running("PROVISIONING", first.build_id))
    # Crash before the heartbeat: no known id, same key.
    again = runner(aws).start(SHA, idempotency_key=key)
    assert again.attached and again.build_id == first.build_id
    assert builds.started(PROJECT) == [first.build_id]


def test_progress_reports_phase_and_log_tail(aws: AwsClients, builds: ScriptedBuilds) -> None:
    started: list[BuildInfo] = []
    progress: list[BuildProgress] = []
    r = runner(aws)
    build = r.start(SHA)
    write_log(aws, build.build_id.split(":", 1)[1], ["[Container] phase INSTALL", "npm ci"])
    builds.script(
        build.build_id,
        running("QUEUED", build.build_id),  # read by run()'s reattach
        running("INSTALL", build.build_id),
        running("BUILD", build.build_id),
        {"buildStatus": "SUCCEEDED", "currentPhase": "COMPLETED"},
    )
    done = r.run(
        SHA, known_build_id=build.build_id, on_started=started.append, on_progress=progress.append
    )
    assert [p.phase for p in progress] == ["INSTALL", "BUILD", "COMPLETED"]
    assert progress[0].log_tail == ["[Container] phase INSTALL", "npm ci"]
    assert started[0].build_id == build.build_id
    assert done.status == "SUCCEEDED" and done.log_url == "https://console/x"
    # Crossing the Temporal boundary: JSON round trip.
    assert BuildInfo.model_validate_json(done.model_dump_json()) == done


def test_failed_build_reports_phase_and_log_tail(aws: AwsClients, builds: ScriptedBuilds) -> None:
    r = runner(aws)
    build = r.start(SHA)
    write_log(
        aws,
        build.build_id.split(":", 1)[1],
        [f"line {i}" for i in range(40)]
        + ["FAIL tests/test_cart.py::test_total", "make: *** [test] Error 2"],
    )
    failed_phases = [
        phase("SUBMITTED", "SUCCEEDED"),
        phase("INSTALL", "SUCCEEDED"),
        phase("BUILD", "FAILED", "Error while executing command: make test. Reason: exit status 2"),
        phase("POST_BUILD", "SUCCEEDED"),
        phase("COMPLETED"),
    ]
    builds.script(
        build.build_id,
        running("BUILD", build.build_id),
        {"buildStatus": "FAILED", "currentPhase": "COMPLETED", "phases": failed_phases},
    )
    with pytest.raises(BuildFailedError) as err:
        r.wait(build.build_id)
    e = err.value
    assert not e.retryable
    assert e.build.failed_phase == "BUILD" and e.build.status == "FAILED"
    assert "FAILED in phase BUILD" in str(e)
    assert "make test. Reason: exit status 2" in str(e)
    assert "make: *** [test] Error 2" in str(e)
    assert len(e.build.log_tail) == CONFIG.log_tail_lines
    assert e.build.log_tail[-1] == "make: *** [test] Error 2"


def test_cancel_stops_the_build(aws: AwsClients, builds: ScriptedBuilds) -> None:
    r = runner(aws)
    build = r.start(SHA)
    builds.script(build.build_id, running("BUILD", build.build_id))
    polls = iter([False, True])
    with pytest.raises(BuildCancelledError) as err:
        r.wait(build.build_id, is_cancelled=lambda: next(polls))
    assert err.value.build.status == "STOPPED"
    assert builds.record(build.build_id)["buildStatus"] == "STOPPED"


class WorkerCancelled(BaseException):
    """Stands in for temporalio's CancelledError raised from heartbeat()."""


def test_cancellation_raised_by_heartbeat_stops_the_build(
    aws: AwsClients, builds: ScriptedBuilds
) -> None:
    r = runner(aws, cancel_on=(WorkerCancelled,))
    build = r.start(SHA)
    builds.script(build.build_id, running("BUILD", build.build_id))

    def heartbeat(_: BuildProgress) -> None:
        raise WorkerCancelled

    with pytest.raises(WorkerCancelled):
        r.wait(build.build_id, on_progress=heartbeat)
    assert builds.record(build.build_id)["buildStatus"] == "STOPPED"


def test_missing_project_is_not_found(aws: AwsClients) -> None:
    with pytest.raises(AwsError) as err:
        runner(aws).start(SHA)
    assert err.value.kind == "not-found" and not err.value.retryable
    assert "codebuild:StartBuild" in str(err.value) and PROJECT in str(err.value)
