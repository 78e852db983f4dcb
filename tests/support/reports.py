"""Test reports as real tools write them: a JUnit XML (pytest's shape) and Cobertura."""

from __future__ import annotations


def junit_xml(passed: int, failed: list[str] = (), skipped: int = 0) -> str:  # type: ignore[assignment]
    cases = [
        f'<testcase classname="tests.test_app" name="test_ok_{i}" time="0.01"/>'
        for i in range(passed)
    ]
    cases += [
        f'<testcase classname="tests.test_app" name="{name}"><failure message="assert 1 == 2">'
        "AssertionError</failure></testcase>"
        for name in failed
    ]
    cases += [
        f'<testcase classname="tests.test_app" name="test_skip_{i}"><skipped message="later"/></testcase>'
        for i in range(skipped)
    ]
    total = passed + len(failed) + skipped
    return (
        '<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="0" '
        f'failures="{len(failed)}" skipped="{skipped}" tests="{total}">'
        + "".join(cases)
        + "</testsuite></testsuites>"
    )


def cobertura_xml(percent: float) -> str:
    return (
        '<?xml version="1.0" ?><coverage version="7.6" timestamp="1" lines-valid="1000" '
        f'lines-covered="{int(percent * 10)}" line-rate="{percent / 100:.4f}" branch-rate="0" '
        'complexity="0"><sources><source>/src</source></sources><packages/></coverage>'
    )
