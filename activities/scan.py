"""The scan gate: judge the SARIF reports the build produced."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from rollway.models import ScanInput
from rollway.scan import SarifError, ScanVerdict, evaluate, parse_sarif_text
from rollway.security.inputs import InputError, contained_path
from rollway.spec import SarifScan


@activity.defn(name="scan_gate")
def scan_gate(inp: ScanInput) -> ScanVerdict:
    """Gather findings (SARIF in the artifact, ECR scan, S3 SARIF) and apply the scan policy."""
    if not isinstance(inp.scan, SarifScan):
        from activities.aws import aws_scan_findings

        findings = aws_scan_findings(inp)
        return evaluate(findings, inp.scan.policy, inp.now)
    findings = []
    for rel in inp.scan.reports:
        try:
            path = contained_path(inp.artifact, rel, field="scan.reports")
        except InputError as e:
            raise ApplicationError(str(e), type="InvalidInput", non_retryable=True) from None
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise ApplicationError(
                f"scan.reports: {rel} not found in the artifact ({path}); "
                "the build must write it to $ARTIFACT_DIR",
                type="ScanReportMissing",
                non_retryable=True,
            ) from None
        try:
            findings += parse_sarif_text(text, source=rel)
        except SarifError as e:
            raise ApplicationError(str(e), type="SarifError", non_retryable=True) from e
    return evaluate(findings, inp.scan.policy, inp.now)
