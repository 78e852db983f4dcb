"""The suite's layout: test modules share code only through tests/support/.

A test module that imports another test module (or a conftest) runs that
module's tests' imports, fixtures and side effects in a place nobody looks, and
breaks when the other module moves. Support code lives in tests/support/ (and
`tests.histories.record` records workflow histories); the product packages
ship no test code.
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from pathlib import Path

from tests.support.binaries import ROOT

TESTS = ROOT / "tests"
ALLOWED = ("tests.support", "tests.histories.record")
PRODUCT = ("rollway", "workflows", "activities", "workers")
TEST_ONLY = ("tests", "pytest", "kmock", "moto", "hypothesis")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, text: str | None = None) -> Iterator[tuple[int, str]]:
    """(line, absolute module) for every import in `path` (or `text` as if at `path`)."""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    source = path.read_text() if text is None else text
    for node in ast.walk(ast.parse(source, str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if node.module is None or node.level:
                for alias in node.names:  # `from . import x` may import a module x
                    yield node.lineno, f"{base}.{alias.name}"
            yield node.lineno, base


def allowed(module: str) -> bool:
    return any(module == a or module.startswith(a + ".") for a in ALLOWED)


def test_no_test_module_imports_another_test_module_or_a_conftest() -> None:
    bad = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in sorted(TESTS.rglob("*.py"))
        for line, module in imports(path)
        if (module == "tests" or module.startswith("tests.")) and not allowed(module)
    ]
    assert not bad, "import shared code from tests/support instead:\n" + "\n".join(bad)


def test_support_holds_no_tests_or_conftests() -> None:
    misplaced = [
        str(p.relative_to(ROOT))
        for p in (TESTS / "support").rglob("*.py")
        if p.name.startswith("test_") or p.name == "conftest.py"
    ]
    assert not misplaced, misplaced


def test_the_product_ships_no_test_code() -> None:
    bad = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for package in PRODUCT
        for path in sorted((ROOT / package).rglob("*.py"))
        for line, module in imports(path)
        if module.split(".")[0] in TEST_ONLY
    ]
    assert not bad, "test-only imports in the product packages:\n" + "\n".join(bad)
    wheel = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]
    assert sorted(wheel["targets"]["wheel"]["packages"]) == sorted(PRODUCT)
    assert not list((ROOT / "rollway").rglob("testing")), "no test harness in the package"


def test_the_import_scan_sees_relative_and_absolute_imports() -> None:
    """Guards the scan: a planted bad import in each form is found, a good one is not."""
    text = "from .test_kayenta import x\nimport tests.cli.conftest\nfrom tests.support import y\n"
    found = [m for _, m in imports(TESTS / "judge" / "probe.py", text)]
    assert [m for m in found if not allowed(m) and m.startswith("tests.")] == [
        "tests.judge.test_kayenta.x",
        "tests.judge.test_kayenta",
        "tests.cli.conftest",
    ]
