"""deploy/rbac/ grants exactly what the platform uses; config validation errors are clear."""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from rollway.platform.base import DeployRequest, Platform, no_heartbeat
from rollway.platform.kubernetes import KubernetesPlatform, KubernetesPlatformConfig
from tests.support.kubernetes.harness import (
    APPLICATION,
    DESTINATIONRULE,
    HTTPROUTE,
    VIRTUALSERVICE,
    KubeEnv,
    establish,
)

RBAC_DIR = Path(__file__).resolve().parents[3] / "deploy" / "rbac"


def granted_rules() -> set[tuple[str, str, str]]:
    """(verb, apiGroup, resource) granted by the Roles/ClusterRoles in deploy/rbac/."""
    granted: set[tuple[str, str, str]] = set()
    for path in sorted(RBAC_DIR.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc.get("kind") not in ("Role", "ClusterRole"):
                continue
            for rule in doc["rules"]:
                for group in rule["apiGroups"]:
                    for resource in rule["resources"]:
                        for verb in rule["verbs"]:
                            granted.add((verb, group, resource))
    return granted


def bound_roles() -> dict[str, list[str]]:
    """Role name -> namespaces it is bound in."""
    bound: dict[str, list[str]] = defaultdict(list)
    for path in sorted(RBAC_DIR.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "RoleBinding":
                assert doc["subjects"] == [
                    {"kind": "ServiceAccount", "name": "rollway", "namespace": "rollway"}
                ]
                bound[doc["roleRef"]["name"]].append(doc["metadata"]["namespace"])
    return bound


def _flow(platform: Platform, kube: KubeEnv, undo: bool = False) -> None:
    t = kube.target()
    establish(platform, t, "1.0.0", kube.images.v1)
    platform.deploy(DeployRequest(target=t, version="2.0.0", artifact=kube.images.v2))
    platform.wait_ready(t, "2.0.0", kube.timeout_s, no_heartbeat)
    platform.set_weight(t, 50)
    platform.rollback(t)
    platform.deploy(DeployRequest(target=t, version="2.0.1", artifact=kube.images.v3))
    platform.wait_ready(t, "2.0.1", kube.timeout_s, no_heartbeat)
    platform.promote(t)
    if undo:
        platform.undo(t)
    platform.status(t)


def test_rbac_grants_exactly_the_verbs_the_platform_uses(kube: KubeEnv) -> None:
    east = kube.clusters["east"]
    full = not kube.real or os.environ.get("ROLLWAY_KUBE_FULL") == "1"
    _flow(kube.platform(kube.config(replicas=1)), kube, undo=True)
    for strategy in ("blue-green", "rolling"):
        # A fresh service name per strategy keeps the objects apart.
        platform = kube.platform(kube.config(strategy=strategy, replicas=1))
        t = kube.target(service=f"rbac-{strategy}")
        establish(platform, t, "1.0.0", kube.images.v1)
        platform.deploy(DeployRequest(target=t, version="2.0.0", artifact=kube.images.v2))
        platform.wait_ready(t, "2.0.0", kube.timeout_s, no_heartbeat)
        platform.rollback(t)
        platform.undo(t)
    if full:
        east.create(
            HTTPROUTE,
            {
                "metadata": {"name": "gw"},
                "spec": {"rules": [{"backendRefs": [{"name": "gw", "port": 80}]}]},
            },
        )
        gw = kube.platform(kube.config(replicas=1, canary={"traffic": "gateway-api"}))
        t = kube.target(service="gw")
        establish(gw, t, "1.0.0", kube.images.v1)
        gw.set_weight(t, 0)
        east.create(
            VIRTUALSERVICE,
            {
                "metadata": {"name": "mesh"},
                "spec": {
                    "http": [{"route": [{"destination": {"host": "mesh", "subset": "stable"}}]}]
                },
            },
        )
        east.create(DESTINATIONRULE, {"metadata": {"name": "mesh"}, "spec": {"host": "mesh"}})
        mesh = kube.platform(kube.config(replicas=1, canary={"traffic": "istio"}))
        t = kube.target(service="mesh")
        establish(mesh, t, "1.0.0", kube.images.v1)
        east.create(
            APPLICATION,
            {
                "metadata": {"name": "mesh"},
                "spec": {
                    "source": {"repoURL": "https://git.example.com/x.git", "targetRevision": "main"}
                },
            },
            namespace=kube.argocd_namespace,
        )
        argo = kube.platform(
            kube.config(argocd={"application": "mesh", "namespace": kube.argocd_namespace})
        )
        argo.sync_argocd(t, "v1")

    used = {c.rbac for c in east.api.calls}
    granted = granted_rules()
    assert used <= granted, f"deploy/rbac/ lacks {sorted(used - granted)}"
    if full:
        assert granted == used, f"deploy/rbac/ grants unused {sorted(granted - used)}"
    assert bound_roles() == {
        "rollway-deployer": ["shop"],
        "rollway-gateway-api": ["shop"],
        "rollway-istio": ["shop"],
        "rollway-argocd-sync": ["argocd"],
    }


# --- config validation -----------------------------------------------------------------------


def _error(**values: Any) -> str:
    with pytest.raises(ValidationError) as e:
        KubernetesPlatformConfig.model_validate({"namespace": "shop", **values})
    return str(e.value)


def test_config_defaults() -> None:
    cfg = KubernetesPlatformConfig.model_validate({"kind": "kubernetes", "namespace": "shop"})
    assert cfg.strategy == "canary" and cfg.canary_options.traffic == "replicas"
    assert cfg.writable_namespaces == {"shop"}
    assert cfg.weight_granularity == 50  # 2 replicas: steps of 50 %
    assert cfg.supports_partial_weights
    assert cfg.cluster(None) is None
    assert not KubernetesPlatformConfig(
        namespace="shop", strategy="blue-green"
    ).supports_partial_weights
    assert KubernetesPlatformConfig(namespace="shop", replicas=10).weight_granularity == 10


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"namespace": "Shop_1"}, "namespace 'Shop_1' is not a valid namespace name"),
        (
            {"allowed_namespaces": ["other"]},
            "namespace 'shop' is not in allowed_namespaces ['other']; add it there",
        ),
        (
            {"strategy": "rolling", "canary": {"traffic": "istio"}},
            "'canary' options are set but strategy is 'rolling'; remove 'canary' or set "
            "strategy: canary",
        ),
        ({"canary": {"traffic": "linkerd"}}, "canary.traffic"),
        (
            {"canary": {"stable_service": "{service}", "canary_service": "{service}"}},
            "the canary needs its own Service",
        ),
        (
            {"canary": {"http_route": "Shop Route"}},
            "canary.http_route 'Shop Route' is not a valid object name",
        ),
        (
            {"strategy": "rolling", "rolling": {"max_surge": 0, "max_unavailable": "0%"}},
            "rolling.max_surge and rolling.max_unavailable are both 0, so the rollout could never "
            "progress; set max_surge: 1",
        ),
        (
            {"strategy": "rolling", "rolling": {"max_surge": "150%"}},
            "rolling.max_surge '150%' is neither a pod count nor a percentage",
        ),
        (
            {"clusters": [{"name": "eu"}]},
            "cluster 'eu' needs 'context: <kubeconfig context>' or 'in_cluster: true'",
        ),
        (
            {"clusters": [{"name": "eu", "context": "a", "in_cluster": True}]},
            "set either 'context' (kubeconfig) or 'in_cluster: true', not both",
        ),
        (
            {"clusters": [{"name": "eu", "context": "a"}, {"name": "eu", "context": "b"}]},
            "clusters: duplicate name(s) ['eu']",
        ),
        (
            {"clusters": [{"name": "eu", "context": "a", "namespace": "prod"}]},
            "clusters[0] ('eu'): namespace 'prod' is not in allowed_namespaces ['shop']; add it there",
        ),
        (
            {"argocd": {"application": "shop"}},
            "argocd.namespace 'argocd' is not in allowed_namespaces ['shop']",
        ),
        ({"replicas": 0}, "replicas"),
        ({"progress_deadline": "soon"}, "'soon' is not a duration"),
        (
            {"strategy": "blue-green", "blue_green": {"preview_service": "{service}"}},
            "blue_green.active_service and blue_green.preview_service must differ",
        ),
        ({"canaryy": {}}, "canaryy"),
    ],
)
def test_config_errors_name_the_field_and_the_fix(values: dict[str, Any], expected: str) -> None:
    assert expected in _error(**values)


def test_target_cluster_must_be_configured() -> None:
    cfg = KubernetesPlatformConfig.model_validate(
        {
            "namespace": "shop",
            "clusters": [{"name": "eu", "context": "kind-eu"}, {"name": "us", "in_cluster": True}],
        }
    )
    assert cfg.cluster("us") is not None and cfg.cluster("us").in_cluster  # type: ignore[union-attr]
    with pytest.raises(KeyError, match="unknown cluster 'ap'"):
        cfg.cluster("ap")
    with pytest.raises(KeyError, match="the target must name one"):
        cfg.cluster(None)


def test_platform_satisfies_the_protocol() -> None:
    def build() -> Platform:
        return KubernetesPlatform(KubernetesPlatformConfig(namespace="shop"))

    assert isinstance(build(), KubernetesPlatform)
