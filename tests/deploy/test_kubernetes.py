"""deploy/worker/: rendered with kustomize (kubectl), every object schema-valid, and
the properties a schema cannot see (replicas, probes, grace, RBAC, Secrets)."""

from __future__ import annotations

import subprocess
from datetime import timedelta
from functools import cache
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.support.binaries import require_binary
from tests.support.deploy import ROOT, worker_env_reads
from workers.main import GRACEFUL_SHUTDOWN
from workflows.promotion import options

OVERLAYS = ["deploy/worker/base", "deploy/worker/overlays/production"]
K8S_VERSIONS = ["1.30.0", "1.37.0"]
# Read by the worker but optional in a cluster: the SDK has defaults for them.
OPTIONAL = {
    "ROLLWAY_DEV_INLINE_PIPELINES",  # development workers only
    "ROLLWAY_PIPELINE_CATALOG_GIT",  # a git catalog instead of the mounted folder
    "ROLLWAY_PIPELINE_CATALOG_REF",
    "ROLLWAY_PIPELINE_CATALOG_DIR",
    "TEMPORAL_API_KEY",
    "TEMPORAL_TLS",
    "TEMPORAL_TLS_CLIENT_CERT_PATH",
    "TEMPORAL_TLS_CLIENT_KEY_PATH",
    "TEMPORAL_TLS_SERVER_CA_CERT_PATH",
    "TEMPORAL_TLS_SERVER_NAME",
    "TEMPORAL_TLS_DISABLE_HOST_VERIFICATION",
    "TEMPORAL_PROFILE",
    "TEMPORAL_CONFIG_FILE",
    "ROLLWAY_STACK_WORKER",  # set only by `rollway up` for the local stack's worker
    "ROLLWAY_TEMPORAL_UI",  # the CLI's link to the Web UI
}


@cache
def render(folder: str) -> tuple[dict[str, Any], ...]:
    kubectl = require_binary(
        "kubectl",
        "kubectl 1.21+ for `kubectl kustomize` (Debian's kubernetes-client 1.20 is too old)",
    )
    r = subprocess.run(
        [kubectl, "kustomize", folder], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert r.returncode == 0, f"kubectl kustomize {folder}: {r.stderr}"
    return tuple(d for d in yaml.safe_load_all(r.stdout) if d)


def one(objs: tuple[dict[str, Any], ...], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [o for o in objs if o["kind"] == kind and name in (None, o["metadata"]["name"])]
    assert len(found) == 1, f"{kind} {name}: {len(found)} objects"
    return found[0]


def worker(objs: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    return one(objs, "Deployment", "rollway-worker")


def container(objs: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    pod = worker(objs)["spec"]["template"]["spec"]
    return next(c for c in pod["containers"] if c["name"] == "worker")


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("folder", OVERLAYS)
def test_every_rendered_object_is_valid(folder: str, version: str) -> None:
    objs = render(folder)
    assert {"Deployment", "PodDisruptionBudget", "ServiceAccount"} <= {o["kind"] for o in objs}
    for obj in objs:
        kubernetes_validate.validate(obj, version, strict=True)


def test_validation_catches_a_broken_object() -> None:
    broken = dict(worker(render(OVERLAYS[0])))
    broken["spec"] = dict(broken["spec"], replicas="two")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSIONS[-1], strict=True)


@pytest.mark.parametrize("folder", OVERLAYS)
def test_replicas_and_disruption_budget(folder: str) -> None:
    objs = render(folder)
    dep = worker(objs)
    replicas = dep["spec"]["replicas"]
    assert replicas >= 2
    pdb = one(objs, "PodDisruptionBudget", "rollway-worker")
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert pdb["metadata"]["namespace"] == dep["metadata"]["namespace"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert 1 <= pdb["spec"]["maxUnavailable"] < replicas  # drains go one at a time
    assert dep["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_production_overlay_scales_and_pins_the_image() -> None:
    base, prod = render(OVERLAYS[0]), render(OVERLAYS[1])
    assert worker(prod)["spec"]["replicas"] > worker(base)["spec"]["replicas"]
    for objs in (base, prod):
        image = container(objs)["image"]
        tag = image.rpartition(":")[2]
        assert tag not in ("", "latest") and tag[0].isdigit(), image


@pytest.mark.parametrize("folder", OVERLAYS)
def test_resources_and_probes(folder: str) -> None:
    c = container(render(folder))
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(c["resources"][kind]), c["resources"]
    port = next(e["value"] for e in c["env"] if e["name"] == "ROLLWAY_WORKER_METRICS_PORT")
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports["metrics"] == int(port)
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert c["startupProbe"]["httpGet"]["path"] == "/readyz"
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["allowPrivilegeEscalation"] is False


def longest_activity_wait() -> timedelta:
    """The longest heartbeat timeout, and the longest call without heartbeat."""
    fixed = [options.PLATFORM, options.ROLLBACK, options.ANALYSIS, options.SMOKE]
    made = [
        f(timedelta(minutes=10))
        for f in (options.build_options, options.wait_ready_options, options.argocd_options)
    ]
    waits = [o["heartbeat_timeout"] for o in fixed + made if "heartbeat_timeout" in o]
    waits += [o["start_to_close_timeout"] for o in fixed if "heartbeat_timeout" not in o]
    longest: timedelta = max(waits)
    return longest


@pytest.mark.parametrize("folder", OVERLAYS)
def test_shutdown_grace_outlasts_activities(folder: str) -> None:
    grace = worker(render(folder))["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert longest_activity_wait() <= GRACEFUL_SHUTDOWN
    assert timedelta(seconds=grace) >= GRACEFUL_SHUTDOWN + timedelta(seconds=15)


@pytest.mark.parametrize("folder", OVERLAYS)
def test_service_account_is_bound_to_the_rbac(folder: str) -> None:
    objs = render(folder)
    dep = worker(objs)
    ns = dep["metadata"]["namespace"]
    sa = dep["spec"]["template"]["spec"]["serviceAccountName"]
    account = one(objs, "ServiceAccount", sa)
    assert account["metadata"]["namespace"] == ns
    rbac = (ROOT / "deploy/rbac/serviceaccount.yaml").read_text()
    assert f"name: {sa}" in rbac and f"namespace: {ns}" in rbac
    bindings = [
        b
        for b in objs
        if b["kind"] in ("RoleBinding", "ClusterRoleBinding")
        and {"kind": "ServiceAccount", "name": sa, "namespace": ns} in b["subjects"]
    ]
    assert bindings
    roles = {(o["kind"], o["metadata"]["name"]) for o in objs}
    for b in bindings:
        assert (b["roleRef"]["kind"], b["roleRef"]["name"]) in roles, b["roleRef"]
    bound = {b["roleRef"]["name"] for b in bindings}
    assert "rollway-deployer" in bound


@pytest.mark.parametrize("folder", OVERLAYS)
def test_temporal_connection_comes_from_a_secret(folder: str) -> None:
    env = {e["name"]: e for e in container(render(folder))["env"]}
    for name in ("TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "ROLLWAY_TEMPORAL_ADDRESS"):
        ref = env[name]["valueFrom"]["secretKeyRef"]
        assert ref["name"] == "rollway-temporal" and not ref.get("optional"), name
    api_key = env["TEMPORAL_API_KEY"]["valueFrom"]["secretKeyRef"]
    assert api_key["name"] == "rollway-temporal" and api_key["optional"] is True


def test_production_mtls_paths_are_mounted_from_a_secret() -> None:
    objs = render(OVERLAYS[1])
    c = container(objs)
    env = {e["name"]: e.get("value") for e in c["env"]}
    volumes = {v["name"]: v for v in worker(objs)["spec"]["template"]["spec"]["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    assert env["TEMPORAL_TLS"] == "true"
    for name in (
        "TEMPORAL_TLS_CLIENT_CERT_PATH",
        "TEMPORAL_TLS_CLIENT_KEY_PATH",
        "TEMPORAL_TLS_SERVER_CA_CERT_PATH",
    ):
        folder, _, _ = str(env[name]).rpartition("/")
        assert folder in mounts, (name, env[name])
        assert volumes[mounts[folder]]["secret"]["secretName"] == "rollway-temporal-tls"


@pytest.mark.parametrize("folder", OVERLAYS)
def test_worker_environment_is_complete(folder: str) -> None:
    c = container(render(folder))
    names = {e["name"] for e in c["env"]}
    missing = {n: f for n, f in worker_env_reads().items() if n not in names | OPTIONAL}
    assert not missing, f"the worker reads these but the Deployment sets none: {missing}"
    mounts = {m["mountPath"] for m in c["volumeMounts"]}
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["ROLLWAY_HOME"] in mounts  # writable under a read-only root
    assert str(env["ROLLWAY_GROUPS_FILE"]).rpartition("/")[0] in mounts
