"""docker-compose.temporal.yml: what the compose schema checks, and what it cannot."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from rollway import SEARCH_ATTRIBUTES
from tests.support.deploy import (
    COMPOSE,
    ROOT,
    WORKER_SERVICE,
    compose,
    run_validator,
    worker_env_reads,
)
from workers.main import GRACEFUL_SHUTDOWN

SERVICES: dict[str, Any] = compose()["services"]


def one_shots() -> set[str]:
    """Services others wait for with `service_completed_successfully`: jobs, not daemons."""
    return {
        dep
        for svc in SERVICES.values()
        for dep, cond in (svc.get("depends_on") or {}).items()
        if cond.get("condition") == "service_completed_successfully"
    }


def seconds(value: str) -> float:
    m = re.fullmatch(r"(\d+)(ms|s|m|h)", value)
    assert m, f"unexpected duration {value!r}"
    return int(m[1]) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m[2]]


def test_valid_against_the_compose_spec() -> None:
    r = run_validator("check-jsonschema", "--builtin-schema", "vendor.compose-spec", str(COMPOSE))
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_whole_system_is_there() -> None:
    images = {name: svc.get("image", "") for name, svc in SERVICES.items()}
    for part in ("postgres:", "temporalio/server:", "temporalio/ui:", "temporalio/admin-tools:"):
        assert any(i.startswith(part) for i in images.values()), (part, images)
    assert any(i.startswith("prom/prometheus:") for i in images.values()), images
    worker = SERVICES[WORKER_SERVICE]
    assert worker["build"]["context"] == "." and worker["build"]["dockerfile"] == "Dockerfile"
    assert (ROOT / worker["build"]["dockerfile"]).is_file()


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_image_pinned_to_a_version(name: str) -> None:
    image = SERVICES[name].get("image")
    assert image, f"{name}: no image (a built service needs `image: name:version` too)"
    ref = image.split("@", 1)[0]
    repo, _, tag = ref.rpartition(":")
    assert repo and "/" not in tag, f"{name}: {image} has no tag"
    assert tag != "latest" and re.search(r"\d", tag), f"{name}: {image} is not a version"
    assert "${" not in image, f"{name}: {image} depends on the caller's environment"


@pytest.mark.parametrize("name", sorted(set(SERVICES) - one_shots()))
def test_long_running_services_have_health_checks(name: str) -> None:
    check = SERVICES[name].get("healthcheck")
    assert check and not check.get("disable"), f"{name}: no health check"
    test = check["test"]
    assert test and test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, f"{name}: {test}"
    assert SERVICES[name].get("restart") in ("unless-stopped", "always"), name


def test_one_shot_jobs_run_once() -> None:
    assert one_shots() == {"temporal-schema", "temporal-setup"}
    for name in one_shots():
        assert SERVICES[name].get("restart") == "no", name


def test_every_dependency_waits_for_a_condition() -> None:
    healthy = set(SERVICES) - one_shots()
    for name, svc in SERVICES.items():
        for dep, cond in (svc.get("depends_on") or {}).items():
            assert dep in SERVICES, f"{name} depends on unknown {dep}"
            want = "service_completed_successfully" if dep in one_shots() else "service_healthy"
            assert cond.get("condition") == want, f"{name} -> {dep}: {cond}"
            assert dep in healthy | one_shots()


def test_worker_environment_is_complete() -> None:
    worker = SERVICES[WORKER_SERVICE]
    env = worker["environment"]
    unset = compose()["x-rollway-unset-environment"]
    reads = worker_env_reads()
    missing = {n: files for n, files in reads.items() if n not in env and n not in unset}
    assert not missing, f"the worker reads these but compose sets none: {missing}"
    assert not set(env) & set(unset), "a variable is both set and listed as unset"
    # Temporal's own connection variables, for the SDK's environment configuration.
    assert env["TEMPORAL_ADDRESS"] == env["ROLLWAY_TEMPORAL_ADDRESS"] == "temporal:7233"
    assert (
        env["TEMPORAL_NAMESPACE"] == SERVICES["temporal-setup"]["environment"]["TEMPORAL_NAMESPACE"]
    )
    assert env["ROLLWAY_PROMETHEUS_URL"] == "http://prometheus:9090"


def test_worker_metrics_port_is_probed_and_scraped() -> None:
    worker = SERVICES[WORKER_SERVICE]
    port = worker["environment"]["ROLLWAY_WORKER_METRICS_PORT"]
    probe = " ".join(worker["healthcheck"]["test"])
    assert f"127.0.0.1:{port}/readyz" in probe
    scrape = (ROOT / "deploy/prometheus/prometheus.yml").read_text()
    assert f'"{WORKER_SERVICE}:{port}"' in scrape


def test_worker_stops_gracefully() -> None:
    worker = SERVICES[WORKER_SERVICE]
    grace = seconds(worker["stop_grace_period"])
    assert timedelta(seconds=grace) > GRACEFUL_SHUTDOWN + timedelta(seconds=10)
    assert worker.get("init") is True  # signals reach the worker, orphans are reaped


def test_bind_mounts_exist() -> None:
    for name, svc in SERVICES.items():
        for volume in svc.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name}: {source} is not in the repo"


def test_search_attribute_job_registers_rollways_attributes() -> None:
    pairs = SERVICES["temporal-setup"]["environment"]["ROLLWAY_SEARCH_ATTRIBUTES"].split()
    registered = dict(p.split("=", 1) for p in pairs)
    assert registered == SEARCH_ATTRIBUTES


def test_prometheus_config_and_rules_are_valid() -> None:
    r = run_validator("promtool", "check", "config", "deploy/prometheus/prometheus.yml")
    assert r.returncode == 0, r.stdout + r.stderr
    r = run_validator("promtool", "check", "rules", "deploy/prometheus/rules/rollway.yml")
    assert r.returncode == 0, r.stdout + r.stderr
    prom = SERVICES["prometheus"]
    assert any(v.startswith("./deploy/prometheus/rules:") for v in prom["volumes"])
