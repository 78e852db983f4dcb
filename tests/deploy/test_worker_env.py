"""The scan the compose and Kubernetes tests rely on finds what the worker reads."""

from __future__ import annotations

from tests.support.deploy import worker_env_reads, worker_modules


def test_scan_covers_the_worker_and_its_activities() -> None:
    names = {p.as_posix() for p in worker_modules()}
    assert any(n.endswith("workers/main.py") for n in names)
    assert any(n.endswith("activities/analysis.py") for n in names)
    assert any(n.endswith("rollway/platform/kubernetes/platform.py") for n in names)
    assert not any("/tests/" in n for n in names)


def test_scan_finds_known_reads() -> None:
    reads = worker_env_reads()
    # Read today by workers/main.py, activities/analysis.py, activities/groups.py, rollway/home.py.
    assert {
        "ROLLWAY_TEMPORAL_ADDRESS",
        "ROLLWAY_WORKER_METRICS_PORT",
        "ROLLWAY_PROMETHEUS_URL",
        "ROLLWAY_GROUPS_FILE",
        "ROLLWAY_HOME",
    } <= set(reads), reads
