"""The scan gate: SARIF parsing, findings and the severity policy.

Plain, Temporal-free code: `sarif.parse_sarif` turns any tool's SARIF 2.1.0 into
`Finding`s, and `policy.evaluate` (a pure function; time is passed in) decides a
`ScanVerdict` from the findings and a `ScanPolicy`.
"""

from rollway.scan.findings import (
    SEVERITIES,
    AppliedException,
    DeferredFinding,
    Finding,
    ScanVerdict,
    Severity,
)
from rollway.scan.policy import ScanException, ScanPolicy, evaluate
from rollway.scan.sarif import SarifError, parse_sarif, parse_sarif_text

__all__ = [
    "SEVERITIES",
    "AppliedException",
    "DeferredFinding",
    "Finding",
    "SarifError",
    "ScanException",
    "ScanPolicy",
    "ScanVerdict",
    "Severity",
    "evaluate",
    "parse_sarif",
    "parse_sarif_text",
]
