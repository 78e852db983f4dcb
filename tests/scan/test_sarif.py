"""SARIF parsing: a real Bandit report, Trivy/gitleaks/CodeQL-shaped fixtures, bad input."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rollway.scan.sarif import SarifError, cvss_severity, parse_sarif, parse_sarif_text

FIXTURES = Path(__file__).parent / "fixtures"

VULNERABLE = """\
import subprocess


def run(cmd):
    return subprocess.call(cmd, shell=True)


password = "hunter2"
"""


@pytest.fixture(scope="module")
def bandit_sarif(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A real report: run Bandit's SARIF formatter over a file with known issues."""
    src = tmp_path_factory.mktemp("bandit") / "app.py"
    src.write_text(VULNERABLE)
    proc = subprocess.run(
        [sys.executable, "-m", "bandit", "-q", "-f", "sarif", str(src)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr  # 1 = issues found
    return proc.stdout


def load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return doc


def test_bandit_real_report(bandit_sarif: str) -> None:
    findings = parse_sarif_text(bandit_sarif, "bandit.sarif")
    by_id = {f.id: f for f in findings}
    assert {"B404", "B602", "B105"} <= set(by_id)
    shell = by_id["B602"]
    assert shell.tool == "Bandit"
    assert shell.severity == "critical"  # level "error" -> critical
    assert shell.location is not None and shell.location.endswith("app.py:5")
    assert shell.title == "subprocess_popen_with_shell_equals_true"
    assert not shell.is_secret
    assert by_id["B404"].severity == "low"  # level "note"
    # Hard-coded password (CWE-259): the literal is redacted from the message.
    assert "hunter2" not in by_id["B105"].model_dump_json()
    assert "hunter2" not in json.dumps([f.model_dump(mode="json") for f in findings])


def test_trivy_cvss_and_package_fields() -> None:
    findings = parse_sarif(load("trivy.sarif"), "trivy.sarif")
    by_id = {f.id: f for f in findings}
    zlib = by_id["CVE-2022-37434"]
    assert zlib.severity == "critical"  # security-severity 9.8 beats level
    assert (zlib.package, zlib.installed_version, zlib.fixed_version) == (
        "zlib",
        "1.2.12-r1",
        "1.2.12-r2",
    )
    ssl = by_id["CVE-2023-0286"]
    assert ssl.severity == "high"  # 7.4 on the rule, although level is "error"
    assert ssl.package == "libssl3" and ssl.fixed_version == "3.0.8-r0"
    assert ssl.location == "library/app:1"
    medium = by_id["CVE-2023-5678"]
    assert medium.severity == "medium"
    assert medium.fixed_version is None  # "Fixed Version: " empty
    assert "zlib 1.2.12-r1" in zlib.label() and "fixed in 1.2.12-r2" in zlib.label()


def test_gitleaks_findings_are_secrets_and_redacted() -> None:
    findings = parse_sarif(load("gitleaks.sarif"), "gitleaks.sarif")
    assert [f.id for f in findings] == ["aws-access-token", "generic-api-key"]
    assert all(f.is_secret for f in findings)
    assert findings[0].location == "config/settings.py:12"
    assert findings[0].severity == "medium"  # no level anywhere -> SARIF default warning
    dumped = json.dumps([f.model_dump(mode="json") for f in findings])
    assert "AKIAIOSFODNN7EXAMPLE" not in dumped
    assert "sk_test_4eC39HqLyjWDarjtT1zdp7dc" not in dumped


def test_secret_by_rule_tag() -> None:
    doc = {
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "Semgrep OSS",
                        "rules": [
                            {
                                "id": "generic.secrets.gitleaks.slack-token",
                                "properties": {"tags": ["Secrets", "security"]},
                                "defaultConfiguration": {"level": "warning"},
                            }
                        ],
                    }
                },
                "results": [
                    {
                        "ruleId": "generic.secrets.gitleaks.slack-token",
                        "message": {"text": "Slack token found"},
                    }
                ],
            }
        ],
    }
    (f,) = parse_sarif(doc, "semgrep.sarif")
    assert f.is_secret and f.severity == "medium" and f.tool == "Semgrep OSS"


def test_codeql_rules_in_extensions() -> None:
    findings = parse_sarif(load("codeql.sarif"), "codeql.sarif")
    sqli, creds = findings
    assert sqli.id == "py/sql-injection" and sqli.severity == "high"  # 8.8
    assert sqli.location == "app/db.py:42"
    assert sqli.title == "SQL query built from user-controlled sources"
    assert creds.severity == "critical"  # rule defaultConfiguration level "error"
    assert "Sup3rS3cretValue" not in creds.message


@pytest.mark.parametrize(
    ("score", "severity"),
    [
        (10.0, "critical"),
        (9.0, "critical"),
        (8.9, "high"),
        (7.0, "high"),
        (4.0, "medium"),
        (3.9, "low"),
        (0.0, "low"),
    ],
)
def test_cvss_bands(score: float, severity: str) -> None:
    assert cvss_severity(score) == severity


def test_security_severity_on_result_wins_over_rule() -> None:
    doc = load("trivy.sarif")
    doc["runs"][0]["results"][0]["properties"] = {"security-severity": "9.1"}
    findings = parse_sarif(doc, "trivy.sarif")
    assert findings[0].severity == "critical"


def test_bad_level_names_path(bandit_sarif: str) -> None:
    doc = json.loads(bandit_sarif)
    doc["runs"][0]["results"][2]["level"] = "fatal"
    with pytest.raises(SarifError) as err:
        parse_sarif(doc, "bandit.sarif")
    assert str(err.value) == (
        "bandit.sarif: runs[0].results[2].level: 'fatal' is not a SARIF level "
        "(error, warning, note, none)"
    )


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d.__setitem__("version", "2.0.0"), "trivy.sarif: version: '2.0.0' is not"),
        (lambda d: d.__setitem__("runs", {}), "trivy.sarif: runs: must be a list, not an object"),
        (
            lambda d: d["runs"][0]["tool"]["driver"].pop("name"),
            "trivy.sarif: runs[0].tool.driver.name: missing",
        ),
        (
            lambda d: d["runs"][0]["results"].__setitem__(1, "oops"),
            "trivy.sarif: runs[0].results[1]: must be an object, not a string",
        ),
        (
            lambda d: d["runs"][0]["results"][0].__setitem__("ruleIndex", 9),
            "trivy.sarif: runs[0].results[0].ruleIndex: 9 is out of range (3 rules)",
        ),
        (
            lambda d: d["runs"][0]["tool"]["driver"]["rules"][1]["properties"].__setitem__(
                "security-severity", "severe"
            ),
            "security-severity: 'severe' is not a CVSS score",
        ),
    ],
)
def test_malformed_input_errors(mutate: Any, expected: str) -> None:
    doc = copy.deepcopy(load("trivy.sarif"))
    mutate(doc)
    with pytest.raises(SarifError, match=None) as err:
        parse_sarif(doc, "trivy.sarif")
    assert expected in str(err.value)


def test_not_json() -> None:
    with pytest.raises(SarifError, match=r"^x\.sarif: not valid JSON"):
        parse_sarif_text("{nope", "x.sarif")


def test_empty_results_and_null_results() -> None:
    doc = {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "t"}}, "results": None}]}
    assert parse_sarif(doc, "t.sarif") == []
