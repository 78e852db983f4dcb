"""The checks gate: every suite green (quarantine aside) and coverage above each threshold."""

from __future__ import annotations

from rollway.checks.models import CheckResult, ChecksVerdict
from rollway.spec import ChecksSpec

MAX_NAMES = 5


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:MAX_NAMES])
    return shown + (f" and {len(names) - MAX_NAMES} more" if len(names) > MAX_NAMES else "")


def judge(spec: ChecksSpec, results: list[CheckResult]) -> ChecksVerdict:
    """Pure: the same results always give the same verdict (workflow code calls it)."""
    blocking: list[str] = []
    lines: list[str] = []
    for r in results:
        why: list[str] = []
        if r.timed_out:
            why.append("timed out")
        elif r.exit_code not in (None, 0):
            why.append(f"exited {r.exit_code}")
        if r.failures:
            why.append(f"{len(r.failures)} failed: {_names(r.failures)}")
        why += r.problems
        note = f" ({len(r.quarantined)} quarantined failure(s))" if r.quarantined else ""
        status = "; ".join(why) if why else "passed"
        lines.append(f"{r.name}: {r.tests} tests, {status}{note} in {r.seconds:.0f}s")
        if why:
            blocking.append(f"{r.name}: {'; '.join(why)}")
    measured: dict[str, float] = {}
    for r in results:
        measured.update(r.coverage)
    for component, minimum in sorted(spec.coverage.items()):
        value = measured.get(component)
        if value is None:
            blocking.append(f"coverage of {component}: not reported")
        elif value < minimum:
            blocking.append(f"coverage of {component}: {value:.1f}% < {minimum:g}%")
        lines.append(
            f"coverage {component}: "
            + (f"{value:.1f}% (minimum {minimum:g}%)" if value is not None else "missing")
        )
    if blocking:
        return ChecksVerdict(passed=False, summary="; ".join(blocking), lines=lines)
    return ChecksVerdict(passed=True, summary=f"{len(results)} check(s) passed", lines=lines)
