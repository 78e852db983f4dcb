"""examples/ci/: the CI files validate against their schemas and start promotions right."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rollway.models import PromotionInput
from tests.support.deploy import ROOT, run_validator

GITHUB = ROOT / "examples/ci/github-actions.yml"
GITLAB = ROOT / "examples/ci/gitlab-ci.yml"


@pytest.mark.parametrize(
    ("schema", "path"),
    [("vendor.github-workflows", GITHUB), ("vendor.gitlab-ci", GITLAB)],
    ids=["github-actions", "gitlab-ci"],
)
def test_valid_against_the_ci_schema(schema: str, path: object) -> None:
    r = run_validator("check-jsonschema", "--builtin-schema", schema, str(path))
    assert r.returncode == 0, r.stdout + r.stderr


def promote_commands() -> list[str]:
    gh = yaml.safe_load(GITHUB.read_text())
    gl = yaml.safe_load(GITLAB.read_text())
    scripts = [s.get("run", "") for job in gh["jobs"].values() for s in job["steps"]]
    scripts += [
        line for job in gl.values() if isinstance(job, dict) for line in job.get("script", [])
    ]
    text = "\n".join(scripts).replace("\\\n", " ")
    return [m for m in re.findall(r"\bpromote --service[^\n>]*", text)]


def test_github_workflow_builds_then_promotes_and_reports() -> None:
    wf = yaml.safe_load(GITHUB.read_text())
    jobs = wf["jobs"]
    assert jobs["promote"]["needs"] == "build"
    run = "\n".join(s.get("run", "") for s in jobs["promote"]["steps"])
    assert "--wait -o json" in run
    assert '>> "$GITHUB_STEP_SUMMARY"' in run
    assert 'exit "$code"' in run  # the job fails exactly when `rollway promote` does
    for job in jobs.values():
        for step in job["steps"]:
            if "uses" in step:
                assert re.search(r"@(v\d+|[0-9a-f]{40})$", step["uses"]), step["uses"]


def test_examples_use_flags_the_cli_has() -> None:
    commands = promote_commands()
    assert len(commands) == 2, commands
    help_text = subprocess.run(
        [str(Path(sys.executable).parent / "rollway"), "promote", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
    ).stdout
    for cmd in commands:
        assert "--wait -o json" in cmd
        for flag in set(re.findall(r"(?<!\S)(--?[a-z][a-z-]*)", cmd)):
            assert flag in help_text, f"`rollway promote` has no {flag}"


def test_workflow_start_input_is_a_promotion_input() -> None:
    data = json.loads((ROOT / "examples/ci/promotion-input.json").read_text())
    inp = PromotionInput.model_validate(data)
    # The input names a pipeline of the worker's catalog; no spec travels in it.
    assert inp.pipeline is None and inp.pipeline_name is not None
    catalog = yaml.safe_load((ROOT / "pipelines" / f"{inp.pipeline_name}.yaml").read_text())
    assert catalog["service"] == inp.service
