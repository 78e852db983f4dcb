"""Check suites as real processes: reports, gate, quarantine, timeout, secrets, parallelism."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from rollway.checks.gate import judge
from rollway.checks.models import CheckInput, CheckResult
from rollway.checks.runner import run_suite
from rollway.spec import ChecksSpec, CheckSuite
from tests.support.reports import cobertura_xml, junit_xml

PY = sys.executable


def script(tmp_path: Path, name: str, body: str) -> list[str]:
    """A test-tier command: a Python script that writes its reports to $REPORTS_DIR."""
    path = tmp_path / f"{name}.py"
    path.write_text(
        "import os, sys, time, pathlib\nREPORTS = pathlib.Path(os.environ['REPORTS_DIR'])\n" + body
    )
    return [PY, str(path)]


def run(tmp_path: Path, **suite: Any) -> CheckResult:
    lines: list[str] = []
    result = run_suite(
        CheckInput(
            service="demo",
            version="v2",
            commit="abc1234",
            suite=CheckSuite(**suite),
            pipeline_dir=str(tmp_path),
        ),
        work=tmp_path / "work" / suite["name"],
        progress=lines.append,
    )
    return result


def write_reports(junit: str, coverage: str | None = None) -> str:
    body = f"(REPORTS / 'junit.xml').write_text({junit!r})\n"
    if coverage is not None:
        body += f"(REPORTS / 'coverage.xml').write_text({coverage!r})\n"
    return body


def test_reports_and_coverage_are_read_and_gated(tmp_path: Path) -> None:
    backend = run(
        tmp_path,
        name="unit",
        command=script(
            tmp_path, "unit", write_reports(junit_xml(40, skipped=2), cobertura_xml(86.5))
        ),
        junit=["junit.xml"],
        coverage={"backend": "coverage.xml"},
    )
    frontend = run(
        tmp_path,
        name="frontend",
        command=script(tmp_path, "fe", write_reports(junit_xml(12), cobertura_xml(79.0))),
        junit=["junit.xml"],
        coverage={"frontend": "coverage.xml"},
    )
    assert backend.exit_code == 0 and backend.tests == 42 and backend.skipped == 2
    assert backend.coverage == {"backend": pytest.approx(86.5)}
    seed_001 = ChecksSpec(
        suites=[
            CheckSuite(name="unit", command=["x"], coverage={"backend": "c.xml"}),
            CheckSuite(name="frontend", command=["x"], coverage={"frontend": "c.xml"}),
        ],
        coverage={"backend": 85, "frontend": 80},
    )
    verdict = judge(seed_001, [backend, frontend])
    assert not verdict.passed
    assert verdict.summary == "coverage of frontend: 79.0% < 80%"
    frontend.coverage["frontend"] = 81.0
    assert judge(seed_001, [backend, frontend]).passed


def test_failed_tests_block_unless_quarantined(tmp_path: Path) -> None:
    body = (
        write_reports(junit_xml(5, failed=["test_flaky_network", "test_real_bug"]))
        + "sys.exit(1)\n"
    )
    result = run(
        tmp_path,
        name="integration",
        command=script(tmp_path, "it", body),
        junit=["junit.xml"],
        quarantine=["tests.test_app::test_flaky_network"],
    )
    assert result.exit_code == 1
    assert result.failures == ["tests.test_app::test_real_bug"]
    assert result.quarantined == ["tests.test_app::test_flaky_network"]
    spec = ChecksSpec(suites=[CheckSuite(name="integration", command=["x"])])
    verdict = judge(spec, [result])
    assert not verdict.passed
    assert "integration: exited 1; 1 failed: tests.test_app::test_real_bug" in verdict.summary
    assert "(1 quarantined failure(s))" in verdict.lines[0]


def test_a_missing_report_blocks_even_when_the_command_passed(tmp_path: Path) -> None:
    result = run(
        tmp_path, name="e2e", command=script(tmp_path, "e2e", "pass\n"), junit=["junit.xml"]
    )
    assert result.exit_code == 0
    assert result.problems == [
        f"junit report junit.xml missing (expected in {tmp_path / 'work/e2e/reports'})"
    ]
    assert not judge(ChecksSpec(suites=[CheckSuite(name="e2e", command=["x"])]), [result]).passed


def test_a_hostile_report_is_refused(tmp_path: Path) -> None:
    bomb = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><testsuites>&b;</testsuites>'
    result = run(
        tmp_path,
        name="unit",
        command=script(tmp_path, "u", write_reports(bomb)),
        junit=["junit.xml"],
    )
    assert len(result.problems) == 1 and "not safe, well-formed XML" in result.problems[0]


def test_a_suite_over_its_timeout_is_killed_and_fails(tmp_path: Path) -> None:
    marker = tmp_path / "still-running"
    body = f"time.sleep(30)\npathlib.Path({str(marker)!r}).write_text('x')\n"
    result = run(tmp_path, name="slow", command=script(tmp_path, "slow", body), timeout="1s")
    assert result.timed_out and result.exit_code is None
    assert result.problems == ["timed out after 1s (killed)"]
    assert not marker.exists()


def test_the_command_sees_no_worker_secret_and_its_log_is_redacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEPLOY_TOKEN", "worker-only-token-123")
    body = (
        "print('inherited:', 'DEPLOY_TOKEN' in os.environ)\n"
        "print('suite secret:', os.environ['API_SECRET'])\n"
    )
    result = run(
        tmp_path,
        name="unit",
        command=script(tmp_path, "s", body),
        env={"API_SECRET": "suite-secret-value-456"},
    )
    assert "inherited: False" in result.log_tail
    assert "suite-secret-value-456" not in result.log_tail and "[REDACTED]" in result.log_tail


def test_reports_ci_uploaded_are_verified(tmp_path: Path) -> None:
    uploaded = tmp_path / "ci-reports" / "abc1234"
    uploaded.mkdir(parents=True)
    (uploaded / "junit.xml").write_text(junit_xml(30))
    (uploaded / "coverage.xml").write_text(cobertura_xml(91.0))
    result = run(
        tmp_path,
        name="unit",
        reports="ci-reports/{commit}",
        junit=["junit.xml"],
        coverage={"backend": "coverage.xml"},
    )
    assert result.problems == [] and result.tests == 30 and result.coverage["backend"] == 91.0
    missing = run(tmp_path, name="e2e", reports="ci-reports/{version}", junit=["junit.xml"])
    assert missing.problems and "does not exist: CI must upload it" in missing.problems[0]
