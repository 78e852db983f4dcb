"""Reading test reports: JUnit XML with junitparser, Cobertura's line rate.

Both come from test runs or CI uploads, so each file is first parsed with
defusedxml, which refuses entity expansion and external references. Cobertura
needs only the root's `line-rate`, so it is read directly (pycobertura would add
lxml, Jinja and a CLI for one attribute).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import defusedxml.ElementTree as SafeTree
from defusedxml import DefusedXmlException
from junitparser import JUnitXml

MAX_REPORT_BYTES = 50 * 1024 * 1024


class ReportError(Exception):
    """A report is missing, too big, or not what its kind says."""


@dataclass
class JUnitSummary:
    tests: int = 0
    skipped: int = 0
    failures: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)


def _safe(data: bytes, source: str) -> None:
    if len(data) > MAX_REPORT_BYTES:
        raise ReportError(f"{source}: larger than {MAX_REPORT_BYTES // 2**20} MiB")
    try:
        SafeTree.fromstring(data)
    except (SafeTree.ParseError, DefusedXmlException) as e:
        raise ReportError(f"{source}: not safe, well-formed XML ({e})") from None


def junit(data: bytes, source: str, quarantine: list[str]) -> JUnitSummary:
    """Tests, skips, and failed or errored tests (`classname::name`), quarantine apart."""
    _safe(data, source)
    try:
        xml = JUnitXml.fromstring(data)
    except Exception as e:  # junitparser raises several kinds on a non-JUnit document
        raise ReportError(f"{source}: not a JUnit XML report ({e})") from None
    summary = JUnitSummary()
    quarantined = set(quarantine)
    for suite in xml:
        for case in suite:
            summary.tests += 1
            if case.is_skipped:
                summary.skipped += 1
            elif not case.is_passed:
                ident = f"{case.classname}::{case.name}" if case.classname else str(case.name)
                if ident in quarantined or case.name in quarantined:
                    summary.quarantined.append(ident)
                else:
                    summary.failures.append(ident)
    return summary


def cobertura_percent(data: bytes, source: str) -> float:
    """Line coverage in percent from a Cobertura report's root `line-rate`."""
    _safe(data, source)
    root = SafeTree.fromstring(data)
    rate = root.get("line-rate")
    if root.tag != "coverage" or rate is None:
        raise ReportError(f"{source}: not a Cobertura report (no <coverage line-rate=…>)")
    try:
        value = float(rate) * 100
    except ValueError:
        raise ReportError(f"{source}: line-rate '{rate[:20]}' is not a number") from None
    if not 0 <= value <= 100:
        raise ReportError(f"{source}: line-rate {rate} is outside 0..1")
    return value
