"""Canary in its three traffic modes: the exact objects written at every step."""

from __future__ import annotations

from typing import Any

import pytest

from rollway.platform.base import DeployRequest, Platform, no_heartbeat
from rollway.platform.kubernetes import KubernetesPlatform
from rollway.platform.kubernetes.canary import replica_split
from tests.support.kubernetes.harness import (
    DEPLOYMENT,
    DESTINATIONRULE,
    HTTPROUTE,
    SERVICE,
    VIRTUALSERVICE,
    KubeEnv,
    TestCluster,
    establish,
)

NAME = "app.kubernetes.io/name"
TRACK = "rollway.dev/track"
PINNED = {NAME: "shop", TRACK: "stable"}
OPEN = {NAME: "shop"}


def image(c: TestCluster, name: str) -> str:
    return str(c.get(DEPLOYMENT, name)["spec"]["template"]["spec"]["containers"][0]["image"])


def replicas(c: TestCluster, name: str) -> int:
    return int(c.get(DEPLOYMENT, name)["spec"]["replicas"])


def selector(c: TestCluster, name: str = "shop") -> dict[str, str]:
    return dict(c.get(SERVICE, name)["spec"]["selector"])


def writes(c: TestCluster, since: int) -> list[tuple[str, str]]:
    return [(w.method, w.resource) for w in c.writes(since)]


# --- replica-ratio mode ---------------------------------------------------------------------


def test_replica_split_rounds_up_and_keeps_a_stable_pod() -> None:
    assert replica_split(4, 5) == (1, 3)
    assert replica_split(4, 25) == (1, 3)
    assert replica_split(4, 50) == (2, 2)
    assert replica_split(4, 99) == (4, 1)
    assert replica_split(4, 100) == (4, 0)
    assert replica_split(10, 5) == (1, 9)
    assert replica_split(1, 5) == (1, 1)
    assert replica_split(4, 0) == (0, 4)


def test_canary_replica_mode_promotion(kube: KubeEnv) -> None:
    platform: Platform = kube.platform(kube.config())
    t = kube.target()
    east = kube.clusters["east"]

    # First version: canary first, promoted to stable; nothing else exists yet.
    establish(platform, t, "1.0.0", kube.images.v1)
    assert image(east, "shop") == kube.images.v1 and replicas(east, "shop") == 4
    assert replicas(east, "shop-canary") == 0
    assert selector(east) == PINNED
    assert selector(east, "shop-canary") == {NAME: "shop", TRACK: "canary"}

    # Deploy 2.0.0: one warm canary pod, kept out of the main Service.
    mark = east.mark()
    st = platform.deploy(
        DeployRequest(target=t, version="2.0.0", artifact=kube.images.v2, commit="abc1234")
    )
    assert writes(east, mark) == [("PATCH", "deployments/shop-canary")]
    canary = east.get(DEPLOYMENT, "shop-canary")
    assert canary["spec"]["replicas"] == 1
    assert canary["spec"]["template"]["spec"]["containers"][0]["image"] == kube.images.v2
    assert canary["spec"]["template"]["metadata"]["labels"] == {NAME: "shop", TRACK: "canary"}
    assert canary["spec"]["template"]["metadata"]["annotations"]["rollway.dev/commit"] == "abc1234"
    assert selector(east) == PINNED
    assert st.canary is not None and st.canary.version == "2.0.0" and st.canary.weight == 0
    assert st.stable is not None and st.stable.version == "1.0.0" and st.stable.weight == 100

    # Deploying the same version again writes nothing.
    mark = east.mark()
    platform.deploy(DeployRequest(target=t, version="2.0.0", artifact=kube.images.v2))
    assert east.writes(mark) == []

    st = platform.wait_ready(t, "2.0.0", kube.timeout_s, no_heartbeat)
    assert st.canary is not None and st.canary.ready

    # 5 % of 4 pods rounds up to 1 canary pod: stable 3, selector opened.
    mark = east.mark()
    st = platform.set_weight(t, 5)
    assert writes(east, mark) == [("PATCH", "deployments/shop"), ("PATCH", "services/shop")]
    assert (replicas(east, "shop-canary"), replicas(east, "shop")) == (1, 3)
    assert selector(east) == OPEN
    assert st.canary is not None and st.canary.weight == 25  # the effective ratio 1:3

    # The same weight twice changes nothing.
    mark = east.mark()
    platform.set_weight(t, 5)
    assert east.writes(mark) == []

    platform.set_weight(t, 50)
    assert (replicas(east, "shop-canary"), replicas(east, "shop")) == (2, 2)
    st = platform.set_weight(t, 100)
    assert (replicas(east, "shop-canary"), replicas(east, "shop")) == (4, 0)
    assert st.canary is not None and st.canary.weight == 100

    # Promote: stable takes the canary's (digest-pinned) image, then all traffic, canary to 0.
    mark = east.mark()
    st = platform.promote(t)
    assert writes(east, mark) == [
        ("PATCH", "deployments/shop"),
        ("PATCH", "services/shop"),
        ("PATCH", "deployments/shop-canary"),
    ]
    stable = east.get(DEPLOYMENT, "shop")
    assert stable["spec"]["template"]["spec"]["containers"][0]["image"] == kube.images.v2
    assert stable["spec"]["replicas"] == 4
    assert stable["spec"]["template"]["metadata"]["labels"] == PINNED
    assert replicas(east, "shop-canary") == 0
    assert selector(east) == PINNED
    assert st.stable is not None and st.stable.version == "2.0.0" and st.stable.ready
    assert st.canary is None and st.previous_stable == "1.0.0"

    # Promote is idempotent, and a late weight 0 does not wake the retired canary.
    mark = east.mark()
    platform.promote(t)
    platform.set_weight(t, 0)
    assert east.writes(mark) == []
    assert replicas(east, "shop-canary") == 0


def test_canary_replica_mode_rollback_first_write_is_traffic(kube: KubeEnv) -> None:
    platform = kube.platform(kube.config())
    t = kube.target()
    east = kube.clusters["east"]
    establish(platform, t, "1.0.0", kube.images.v1)
    platform.deploy(DeployRequest(target=t, version="2.0.0", artifact=kube.images.v2))
    platform.wait_ready(t, "2.0.0", kube.timeout_s, no_heartbeat)
    platform.set_weight(t, 50)
    assert selector(east) == OPEN

    mark = east.mark()
    st = platform.rollback(t)
    ws = east.writes(mark)
    assert [(w.method, w.resource) for w in ws] == [
        ("PATCH", "services/shop"),  # first: the Service selects stable only
        ("PATCH", "deployments/shop"),
        ("PATCH", "deployments/shop-canary"),
    ]
    assert ws[0].body["spec"]["selector"] == {TRACK: "stable"}
    assert selector(east) == PINNED
    assert (replicas(east, "shop"), replicas(east, "shop-canary")) == (4, 0)
    assert image(east, "shop") == kube.images.v1
    assert st.canary is None and st.stable is not None and st.stable.version == "1.0.0"

    mark = east.mark()
    platform.rollback(t)
    assert east.writes(mark) == []


# --- Gateway API ------------------------------------------------------------------------------


def _httproute() -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "shop"},
        "spec": {
            "parentRefs": [{"name": "public"}],
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                    "backendRefs": [{"name": "shop", "port": 80}],
                }
            ],
        },
    }


def _backends(c: TestCluster) -> list[dict[str, Any]]:
    """name/port/weight of each backendRef (a real API server also defaults group and kind)."""
    refs = c.get(HTTPROUTE, "shop")["spec"]["rules"][0]["backendRefs"]
    return [{k: r[k] for k in ("name", "port", "weight") if k in r} for r in refs]


def _gateway_platform(kube: KubeEnv) -> KubernetesPlatform:
    if not kube.has_api("east", "gateway.networking.k8s.io/v1", "httproutes"):
        pytest.skip("the real cluster has no Gateway API CRDs")
    kube.clusters["east"].create(HTTPROUTE, _httproute())
    return kube.platform(
        kube.config(strategy="canary", canary={"traffic": "gateway-api", "canary_replicas": 2})
    )


def test_canary_gateway_api_promotion(kube: KubeEnv) -> None:
    platform = _gateway_platform(kube)
    t = kube.target()
    east = kube.clusters["east"]
    establish(platform, t, "1.0.0", kube.images.v1)
    assert _backends(east) == [
        {"name": "shop", "port": 80, "weight": 100},
        {"name": "shop-canary", "port": 80, "weight": 0},
    ]
    assert selector(east) == PINNED
    assert selector(east, "shop-canary") == {NAME: "shop", TRACK: "canary"}

    platform.deploy(DeployRequest(target=t, version="2.0.0", artifact=kube.images.v2))
    assert replicas(east, "shop-canary") == 2 and image(east, "shop-canary") == kube.images.v2
    platform.wait_ready(t, "2.0.0", kube.timeout_s, no_heartbeat)

    mark = east.mark()
    st = platform.set_weight(t, 10)
    assert writes(east, mark) == [("PATCH", "httproutes/shop")]  # one write, the route only
    assert _backends(east) == [
        {"name": "shop", "port": 80, "weight": 90},
        {"name": "shop-canary", "port": 80, "weight": 10},
    ]
    assert st.canary is not None and st.canary.weight == 10
    assert st.stable is not None and st.stable.weight == 90

    mark = east.mark()
    platform.set_weight(t, 10)
    assert east.writes(mark) == []

    platform.set_weight(t, 60)
    assert [b["weight"] for b in _backends(east)] == [40, 60]

    mark = east.mark()
    st = platform.promote(t)
    assert writes(east, mark) == [
        ("PATCH", "deployments/shop"),
        ("PATCH", "httproutes/shop"),
        ("PATCH", "deployments/shop-canary"),
    ]
    assert image(east, "shop") == kube.images.v2 and replicas(east, "shop") == 4
    assert [b["weight"] for b in _backends(east)] == [100, 0]
    assert replicas(east, "shop-canary") == 0
    assert st.canary is None and st.stable is not None and st.stable.version == "2.0.0"


def test_canary_gateway_api_rollback(kube: KubeEnv) -> None:
    platform = _gateway_platform(kube)
    t = kube.target()
    east = kube.clusters["east"]
    establish(platform, t, "1.0.0", kube.images.v1)
    platform.deploy(DeployRequest(target=t, version="2.0.0", artifact=kube.images.v2))
    platform.set_weight(t, 30)

    mark = east.mark()
    platform.rollback(t)
    ws = east.writes(mark)
    assert [(w.method, w.resource) for w in ws] == [
        ("PATCH", "httproutes/shop"),
        ("PATCH", "deployments/shop-canary"),
    ]
    assert [b["weight"] for b in _backends(east)] == [100, 0]
    assert replicas(east, "shop-canary") == 0
    assert image(east, "shop") == kube.images.v1


# --- Istio ---------------------------------------------------------------------------------------


def _istio_platform(kube: KubeEnv) -> KubernetesPlatform:
    if not kube.has_api("east", "networking.istio.io/v1", "virtualservices"):
        pytest.skip("the real cluster has no Istio CRDs (networking.istio.io/v1)")
    east = kube.clusters["east"]
    east.create(
        VIRTUALSERVICE,
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "VirtualService",
            "metadata": {"name": "shop"},
            "spec": {
                "hosts": ["shop"],
                "http": [
                    {
                        "name": "primary",
                        "route": [
                            {"destination": {"host": "shop", "subset": "stable"}, "weight": 100}
                        ],
                    }
                ],
            },
        },
    )
    east.create(
        DESTINATIONRULE,
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "DestinationRule",
            "metadata": {"name": "shop"},
            "spec": {"host": "shop"},
        },
    )
    return kube.platform(
        kube.config(
            canary={"traffic": "istio", "canary_replicas": 1, "virtual_service_route": "primary"}
        )
    )


def _routes(c: TestCluster) -> list[dict[str, Any]]:
    return list(c.get(VIRTUALSERVICE, "shop")["spec"]["http"][0]["route"])


def test_canary_istio_promotion_and_rollback(kube: KubeEnv) -> None:
    platform = _istio_platform(kube)
    t = kube.target()
    east = kube.clusters["east"]
    establish(platform, t, "1.0.0", kube.images.v1)
    assert east.get(DESTINATIONRULE, "shop")["spec"]["subsets"] == [
        {"name": "stable", "labels": {NAME: "shop", TRACK: "stable"}},
        {"name": "canary", "labels": {NAME: "shop", TRACK: "canary"}},
    ]
    assert selector(east) == OPEN  # the host Service selects both; subsets split
    assert _routes(east) == [
        {"destination": {"host": "shop", "subset": "stable"}, "weight": 100},
        {"destination": {"host": "shop", "subset": "canary"}, "weight": 0},
    ]

    platform.deploy(DeployRequest(target=t, version="2.0.0", artifact=kube.images.v2))
    platform.wait_ready(t, "2.0.0", kube.timeout_s, no_heartbeat)
    mark = east.mark()
    st = platform.set_weight(t, 20)
    assert writes(east, mark) == [("PATCH", "virtualservices/shop")]
    assert [r["weight"] for r in _routes(east)] == [80, 20]
    assert st.canary is not None and st.canary.weight == 20
    mark = east.mark()
    platform.set_weight(t, 20)
    assert east.writes(mark) == []

    mark = east.mark()
    platform.rollback(t)
    assert writes(east, mark)[0] == ("PATCH", "virtualservices/shop")
    assert [r["weight"] for r in _routes(east)] == [100, 0]
    assert replicas(east, "shop-canary") == 0

    platform.deploy(DeployRequest(target=t, version="2.0.1", artifact=kube.images.v3))
    platform.wait_ready(t, "2.0.1", kube.timeout_s, no_heartbeat)
    platform.set_weight(t, 50)
    st = platform.promote(t)
    assert image(east, "shop") == kube.images.v3
    assert [r["weight"] for r in _routes(east)] == [100, 0]
    assert st.stable is not None and st.stable.version == "2.0.1" and st.canary is None


# --- undo ----------------------------------------------------------------------------------------


def test_undo_returns_stable_to_previous_revision(kube: KubeEnv) -> None:
    platform = kube.platform(kube.config(replicas=2))
    t = kube.target()
    east = kube.clusters["east"]
    establish(platform, t, "1.0.0", kube.images.v1)
    establish(platform, t, "2.0.0", kube.images.v2)
    establish(platform, t, "3.0.0", kube.images.v3)
    st = platform.status(t)
    assert st.stable is not None and st.stable.version == "3.0.0"
    assert st.previous_stable == "2.0.0"

    # As `kubectl rollout undo`: the previous ReplicaSet's template, in one write.
    mark = east.mark()
    st = platform.undo(t)
    ws = east.writes(mark)
    assert [(w.method, w.resource) for w in ws] == [("PATCH", "deployments/shop")]
    assert ws[0].body["spec"]["template"]["spec"]["containers"][0]["image"] == kube.images.v2
    assert east.get(DEPLOYMENT, "shop")["spec"]["template"]["metadata"]["labels"] == PINNED
    assert st.stable is not None and st.stable.version == "2.0.0" and st.stable.ready
    dep = east.get(DEPLOYMENT, "shop")
    assert dep["metadata"]["annotations"]["rollway.dev/undone-version"] == "3.0.0"

    # A retried undo does not flip back to 3.0.0.
    mark = east.mark()
    platform.undo(t)
    assert east.writes(mark) == []
    assert image(east, "shop") == kube.images.v2

    # To a chosen version from the history, or to an image.
    st = platform.undo(t, to_version="1.0.0")
    assert image(east, "shop") == kube.images.v1
    assert st.stable is not None and st.stable.version == "1.0.0"
    st = platform.undo(t, to_version=kube.images.v3)
    assert image(east, "shop") == kube.images.v3
    assert st.stable is not None and st.stable.version == "3.0.0"
