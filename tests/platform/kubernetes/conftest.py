"""Fixtures for the Kubernetes platform tests: emulator by default, a real cluster on demand.

Real cluster: `ROLLWAY_KUBE_REAL=1 uv run pytest tests/platform/kubernetes` (uses the
current kubeconfig context). `--kube-real` works too when pytest is pointed at this
directory (pytest reads options only from conftests it loads at start-up), so the
environment variable is the reliable switch.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.kubernetes.harness import KubeEnv, env_iter


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--kube-real",
        action="store_true",
        default=False,
        help="run tests/platform/kubernetes against the current kubeconfig context "
        "instead of the kmock emulator (same as ROLLWAY_KUBE_REAL=1)",
    )


def kube_real(config: pytest.Config) -> bool:
    if os.environ.get("ROLLWAY_KUBE_REAL", "") in ("1", "true", "yes"):
        return True
    try:
        return bool(config.getoption("--kube-real"))
    except ValueError:  # the option was not registered (conftest loaded late)
        return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.kubernetes)


@pytest.fixture
def kube(request: pytest.FixtureRequest) -> Iterator[KubeEnv]:
    """Two clusters ("east", "west"): kmock emulators with fake controllers, or real ones."""
    yield from env_iter(kube_real(request.config))


@pytest.fixture
def emulated(kube: KubeEnv) -> KubeEnv:
    """For tests that need fault injection only the emulator can do (skipped on real clusters)."""
    if kube.real:
        pytest.skip("fault injection needs the kmock emulator")
    return kube
