"""The build activity: secrets out of errors and heartbeats, no paths outside $ROLLWAY_HOME."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.build import build
from activities.scan import scan_gate
from rollway.models import BuildInput, ScanInput
from rollway.spec import CommandBuild, SarifScan

SECRET = "wJalrXUtnFEMI-K7MDENG-worker-secret-4711"
SHA = "4f2a9c1d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b"


@pytest.fixture
def rollway_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("ROLLWAY_HOME", str(home))
    return home


def script(folder: Path, body: str) -> list[str]:
    path = folder / "build.sh"
    path.write_text("#!/usr/bin/env bash\nset -u\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return [str(path)]


def run(inp: BuildInput) -> tuple[Any, list[str]]:
    beats: list[str] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.extend(str(d) for d in details)
    try:
        return env.run(build, inp), beats
    except ApplicationError as e:
        return e, beats


def test_secret_printed_by_a_failing_build_is_redacted(
    rollway_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    leak = tmp_path / "leaked.env"  # e.g. a config file the build reads and echoes
    leak.write_text(f"AWS_SECRET_ACCESS_KEY={SECRET}\n")
    command = script(
        tmp_path,
        'echo "inherited: ${AWS_SECRET_ACCESS_KEY:-not inherited}"\n'
        f"cat {leak}\n"
        "sleep 1.5\n"  # the secret is the last line while the activity heartbeats
        f"cat {leak}\n"
        "exit 3\n",
    )
    inp = BuildInput(
        service="demo",
        version="v2",
        commit=SHA,
        build=CommandBuild(command=command),
        pipeline_dir=str(tmp_path),
    )
    error, beats = run(inp)
    assert isinstance(error, ApplicationError), error
    message = str(error)
    assert "exited with code 3" in message
    assert "inherited: not inherited" in message  # the build never saw the worker's secret
    assert SECRET not in message
    assert "AWS_SECRET_ACCESS_KEY=[REDACTED]" in message
    assert any("[REDACTED]" in b for b in beats), beats  # it was heartbeated, redacted
    assert not any(SECRET in b for b in beats)


def test_build_env_has_only_the_basics_and_the_spec(
    rollway_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", "/root/.kube/prod")
    monkeypatch.setenv("TEMPORAL_API_KEY", "temporal-key-123")
    command = script(tmp_path, 'env | sort > "$ARTIFACT_DIR/env.txt"\n')
    inp = BuildInput(
        service="demo",
        version="v2",
        commit=SHA,
        build=CommandBuild(command=command, env={"LOG_LEVEL": "debug"}),
        pipeline_dir=str(tmp_path),
    )
    result, _ = run(inp)
    names = {
        line.split("=", 1)[0]
        for line in (Path(result.artifact) / "env.txt").read_text().splitlines()
    }
    assert {"PATH", "COMMIT", "VERSION", "SERVICE", "ARTIFACT_DIR", "LOG_LEVEL"} <= names
    assert not names & {"KUBECONFIG", "TEMPORAL_API_KEY", "AWS_SECRET_ACCESS_KEY", "ROLLWAY_HOME"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("version", "../../outside/v2"),
        ("version", "v2/../../../x"),
        ("commit", "/.."),
        ("commit", "../../../../tmp"),
        ("service", "../demo"),
    ],
)
def test_traversal_through_build_input_is_refused(
    field: str, value: str, rollway_home: Path, tmp_path: Path
) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("keep me")
    (rollway_home / "artifacts" / "demo").mkdir(parents=True)
    (rollway_home / "artifacts" / "demo" / "other-build").mkdir()
    command = script(tmp_path, 'echo built > "$ARTIFACT_DIR/out.txt"\n')
    fields = {"service": "demo", "version": "v2", "commit": SHA} | {field: value}
    inp = BuildInput(build=CommandBuild(command=command), pipeline_dir=str(tmp_path), **fields)
    error, _ = run(inp)
    assert isinstance(error, ApplicationError), error
    assert error.type == "InvalidInput" and error.non_retryable
    assert f"{field} {value!r} " in str(error)
    assert (victim / "precious.txt").read_text() == "keep me"
    assert (rollway_home / "artifacts" / "demo" / "other-build").is_dir()
    assert not list(tmp_path.rglob("out.txt"))


def test_scan_reports_outside_the_artifact_are_refused(tmp_path: Path) -> None:
    artifact = tmp_path / "artifact"
    artifact.mkdir()
    (artifact / "escape.sarif").symlink_to("/etc/passwd")
    env = ActivityEnvironment()
    for report in ("../../etc/passwd", "/etc/passwd", "escape.sarif"):
        inp = ScanInput(
            artifact=str(artifact),
            scan=SarifScan(reports=[report]),
            now="2026-12-01T00:00:00Z",
        )
        with pytest.raises(ApplicationError) as caught:
            env.run(scan_gate, inp)
        assert caught.value.type == "InvalidInput", caught.value
        assert f"scan.reports '{report}'" in str(caught.value)
        assert "root:" not in str(caught.value)
