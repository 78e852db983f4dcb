"""CLI checks that need no Temporal server: spec validation and promote's flag checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rollway import stack
from rollway.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
# Nothing listens on port 1: a command that tried to connect would say "cannot reach".
ENV = {"ROLLWAY_TEMPORAL_ADDRESS": "127.0.0.1:1", "COLUMNS": "200"}

BROKEN = """\
service: demo
run: {command: ["python", "app.py"]}
environments:
  production: {platform: {kind: local}}
colour: blue
canary:
  steps:
    - {weight: 50, soak: 1m}
    - {weight: 25, soak: 1m}
  analysis:
    interval: 10ms
"""


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(autouse=True)
def in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


def test_validate_good_file(runner: CliRunner) -> None:
    r = runner.invoke(
        app, ["validate", "pipelines/demo.yaml", "pipelines/order-service.yaml"], env=ENV
    )
    assert r.exit_code == 0, r.output
    assert "pipelines/demo.yaml: OK" in r.output
    assert "pipelines/order-service.yaml: OK" in r.output


def test_validate_broken_file_lists_every_problem(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BROKEN)
    r = runner.invoke(app, ["validate", "pipelines/demo.yaml", str(bad)], env=ENV)
    assert r.exit_code == 2, r.output
    assert "pipelines/demo.yaml: OK" in r.output
    assert f"{bad}: 3 problem(s)" in r.output
    assert "  canary.steps[1].weight: must be greater than the previous step (50)" in r.output
    assert "  canary.analysis.interval: must be at least 1s" in r.output
    assert "  colour: unknown field" in r.output


def test_validate_missing_file(runner: CliRunner) -> None:
    r = runner.invoke(app, ["validate", "nope.yaml"], env=ENV)
    assert r.exit_code == 2
    assert "file not found" in r.output


def test_schema_is_json(runner: CliRunner) -> None:
    r = runner.invoke(app, ["schema"], env=ENV)
    assert r.exit_code == 0
    schema = json.loads(r.stdout)
    assert "canary" in schema["properties"]
    assert "service" in schema["required"]


def promote(runner: CliRunner, *args: str) -> tuple[int, str]:
    r = runner.invoke(app, ["promote", *args], env=ENV)
    assert "Traceback" not in r.output
    assert "cannot reach Temporal" not in r.output  # rejected before connecting
    assert "started" not in r.output
    return r.exit_code, " ".join(r.output.split())  # undo rich's line wrapping


def test_promote_unknown_service(runner: CliRunner) -> None:
    code, msg = promote(runner, "--service", "payments", "--version", "v2", "--commit", "abc1234")
    assert code == 2
    assert (
        "unknown service 'payments': no pipelines/payments.yaml; known services: "
        + ", ".join(sorted(p.stem for p in Path("pipelines").glob("*.yaml")))
        + " (or pass --pipeline NAME|FILE)"
    ) in msg


def test_promote_bad_commit(runner: CliRunner) -> None:
    for sha in ("xyz1234", "ABC1234", "abc12", "a" * 41):
        code, msg = promote(runner, "--service", "demo", "--version", "v2", "--commit", sha)
        assert code == 2
        assert f"--commit '{sha}' is not a commit sha: give 7 to 40 lowercase hex digits" in msg


def test_promote_empty_version(runner: CliRunner) -> None:
    code, msg = promote(runner, "--service", "demo", "--version", " ", "--commit", "abc1234")
    assert code == 2
    assert "--version must not be empty" in msg


def test_promote_mismatched_service(runner: CliRunner) -> None:
    code, msg = promote(
        runner,
        "--service",
        "order-service",
        "--version",
        "v2",
        "--commit",
        "abc1234",
        "--pipeline",
        "pipelines/demo.yaml",
    )
    assert code == 2
    assert "--service 'order-service' does not match the pipeline" in msg
    assert "(service: demo)" in msg


def test_promote_invalid_pipeline(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "demo.yaml"
    bad.write_text(BROKEN)
    code, msg = promote(
        runner,
        "--service",
        "demo",
        "--version",
        "v2",
        "--commit",
        "abc1234",
        "--pipeline",
        str(bad),
    )
    assert code == 2
    assert "canary.steps[1].weight: must be greater than the previous step (50)" in msg


def test_unreachable_temporal(runner: CliRunner) -> None:
    r = runner.invoke(app, ["status", "promote-demo-abc1234"], env=ENV)
    assert r.exit_code == 1
    assert "cannot reach Temporal at 127.0.0.1:1: run `rollway up`" in " ".join(r.output.split())


def test_up_prints_parts_and_ui(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    parts = [
        stack.Part("temporal", "running", "127.0.0.1:7233  UI http://127.0.0.1:8233"),
        stack.Part("worker", "started", "pid 42"),
    ]
    monkeypatch.setattr(stack, "up", lambda home, **kw: parts)
    monkeypatch.setattr(stack, "ui_url", lambda home: "http://127.0.0.1:8233")
    r = runner.invoke(app, ["up"], env=ENV | {"ROLLWAY_HOME": str(tmp_path)})
    assert r.exit_code == 0, r.output
    assert "running" in r.output and "started" in r.output and "pid 42" in r.output
    assert "Temporal UI: http://127.0.0.1:8233" in r.output


def test_up_stack_error_is_red_and_exits_1(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def broken(home: Path, **kw: object) -> list[stack.Part]:
        raise stack.StackError("`prometheus` was not found; install it with apt-get")

    monkeypatch.setattr(stack, "up", broken)
    r = runner.invoke(app, ["up"], env=ENV | {"ROLLWAY_HOME": str(tmp_path)})
    assert r.exit_code == 1
    assert "`prometheus` was not found; install it with apt-get" in r.output
    assert "Traceback" not in r.output
