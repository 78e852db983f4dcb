"""The severity policy: critical blocks, high defers, secrets block, exceptions expire."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from rollway.scan import Finding, ScanException, ScanPolicy, ScanVerdict, evaluate

NOW = datetime(2025, 3, 10, 15, 30, tzinfo=UTC)

CRITICAL = Finding(
    id="CVE-2022-37434",
    tool="Trivy",
    severity="critical",
    title="zlib: heap-based buffer over-read",
    package="zlib",
    installed_version="1.2.12-r1",
    fixed_version="1.2.12-r2",
)
HIGH = Finding(
    id="CVE-2023-0286",
    tool="Trivy",
    severity="high",
    title="openssl: X.400 address type confusion",
    package="libssl3",
    installed_version="3.0.7-r0",
    fixed_version="3.0.8-r0",
)
MEDIUM = Finding(id="B108", tool="Bandit", severity="medium", title="tmp", location="a.py:3")
SECRET = Finding(
    id="aws-access-token",
    tool="gitleaks",
    severity="medium",
    title="AWS key",
    location="config/settings.py:12",
    is_secret=True,
)


def test_clean_passes() -> None:
    verdict = evaluate([], ScanPolicy(), NOW)
    assert verdict.passed and not verdict.blocking and not verdict.warnings
    assert verdict.summary.startswith("Scan gate PASSED")


def test_critical_blocks_and_summary_lists_it() -> None:
    verdict = evaluate([MEDIUM, CRITICAL], ScanPolicy(), NOW)
    assert not verdict.passed
    assert verdict.blocking == [CRITICAL]
    assert "CVE-2022-37434" in verdict.summary
    assert "zlib 1.2.12-r1" in verdict.summary
    assert "fixed in 1.2.12-r2" in verdict.summary
    assert verdict.counts == {"critical": 1, "medium": 1}


def test_high_passes_with_due_date() -> None:
    verdict = evaluate([HIGH, MEDIUM], ScanPolicy(high_due_days=14), NOW)
    assert verdict.passed
    assert [(d.finding.id, d.due) for d in verdict.deferred] == [
        ("CVE-2023-0286", date(2025, 3, 24))
    ]
    assert "due 2025-03-24" in verdict.summary


def test_high_blocks_when_configured() -> None:
    verdict = evaluate([HIGH], ScanPolicy(block_severities=["critical", "high"]), NOW)
    assert not verdict.passed and verdict.blocking == [HIGH] and not verdict.deferred


def test_secret_always_blocks_even_with_exception() -> None:
    policy = ScanPolicy(
        exceptions=[
            ScanException(
                finding_id="aws-access-token", justification="test key", expires=date(2030, 1, 1)
            )
        ]
    )
    verdict = evaluate([SECRET], policy, NOW)
    assert not verdict.passed and verdict.blocking == [SECRET]
    assert "secrets always block" in verdict.warnings[0]
    assert "(secret)" in verdict.summary


def test_secret_does_not_block_when_disabled() -> None:
    verdict = evaluate([SECRET], ScanPolicy(secrets_always_block=False), NOW)
    assert verdict.passed


def test_exception_honoured_until_expiry_then_not() -> None:
    policy = ScanPolicy(
        exceptions=[
            ScanException(
                finding_id="CVE-2022-37434",
                justification="zlib inflate not reachable; fix ships in base image 2025-03",
                expires=date(2025, 3, 31),
            )
        ]
    )
    honoured = evaluate([CRITICAL], policy, NOW)
    assert honoured.passed
    assert [(a.finding_id, a.waived) for a in honoured.exceptions_applied] == [
        ("CVE-2022-37434", 1)
    ]
    assert "Exception applied to CVE-2022-37434 until 2025-03-31" in honoured.summary

    last_day = evaluate([CRITICAL], policy, datetime(2025, 3, 31, 23, 59, tzinfo=UTC))
    assert last_day.passed  # valid through its expiry day

    expired = evaluate([CRITICAL], policy, datetime(2025, 4, 1, 0, 1, tzinfo=UTC))
    assert not expired.passed
    assert expired.blocking == [CRITICAL]
    assert not expired.exceptions_applied
    assert any(
        "exception for CVE-2022-37434 expired on 2025-03-31 and no longer applies" in w
        for w in expired.warnings
    )
    assert "expired on 2025-03-31" in expired.summary


def test_unused_exception_warns() -> None:
    policy = ScanPolicy(
        exceptions=[ScanException(finding_id="CVE-1", justification="x", expires=date(2030, 1, 1))]
    )
    verdict = evaluate([MEDIUM], policy, NOW)
    assert verdict.passed
    assert verdict.warnings == ["exception for CVE-1 matches no finding; remove it"]


def test_exception_needs_justification() -> None:
    with pytest.raises(ValidationError, match="justification"):
        ScanException(finding_id="CVE-1", justification="  ", expires=date(2030, 1, 1))


def test_naive_now_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        evaluate([], ScanPolicy(), datetime(2025, 1, 1))


def test_verdict_round_trips_as_json() -> None:
    verdict = evaluate([CRITICAL, HIGH, SECRET, HIGH], ScanPolicy(), NOW)
    again = ScanVerdict.model_validate_json(verdict.model_dump_json())
    assert again == verdict
    assert len(again.deferred) == 1  # the duplicate HIGH is counted once


def test_policy_from_yaml_like_dict() -> None:
    policy = ScanPolicy.model_validate(
        {
            "block_severities": ["critical", "high"],
            "high_due_days": 7,
            "exceptions": [
                {"finding_id": "CVE-1", "justification": "no fix", "expires": "2025-06-30"}
            ],
        }
    )
    assert policy.exceptions[0].expires == date(2025, 6, 30)
    with pytest.raises(ValidationError):
        ScanPolicy.model_validate({"block_severities": ["severe"]})
