"""Blue-green and rolling promotions: the exact objects written at every step."""

from __future__ import annotations

import time

from rollway.platform.base import DeployRequest, no_heartbeat
from tests.support.kubernetes.harness import (
    DEPLOYMENT,
    SERVICE,
    KubeEnv,
    TestCluster,
    establish,
    wait_until,
)

NAME = "app.kubernetes.io/name"
COLOR = "rollway.dev/color"
TRACK = "rollway.dev/track"


def image(c: TestCluster, name: str) -> str:
    return str(c.get(DEPLOYMENT, name)["spec"]["template"]["spec"]["containers"][0]["image"])


def replicas(c: TestCluster, name: str) -> int:
    return int(c.get(DEPLOYMENT, name)["spec"]["replicas"])


def active(c: TestCluster) -> tuple[dict[str, str], str | None]:
    svc = c.get(SERVICE, "shop")
    stable = (svc["metadata"].get("annotations") or {}).get("rollway.dev/stable-color")
    return dict(svc["spec"]["selector"]), stable


def test_blue_green_promotion_switches_in_one_write(kube: KubeEnv) -> None:
    platform = kube.platform(
        kube.config(strategy="blue-green", replicas=2, blue_green={"scale_down_delay": "1s"})
    )
    t = kube.target()
    east = kube.clusters["east"]

    # First version lands in blue; promote creates the active Service on blue.
    establish(platform, t, "1.0.0", kube.images.v1)
    assert active(east) == ({NAME: "shop", COLOR: "blue"}, "blue")
    assert replicas(east, "shop-blue") == 2 and image(east, "shop-blue") == kube.images.v1

    # 2.0.0 goes to green behind the preview Service; users still on blue.
    st = platform.deploy(DeployRequest(target=t, version="2.0.0", artifact=kube.images.v2))
    assert image(east, "shop-green") == kube.images.v2 and replicas(east, "shop-green") == 2
    assert dict(east.get(SERVICE, "shop-preview")["spec"]["selector"]) == {
        NAME: "shop",
        COLOR: "green",
    }
    assert active(east) == ({NAME: "shop", COLOR: "blue"}, "blue")
    assert st.canary is not None and st.canary.weight == 0
    assert st.canary.endpoint == "http://shop-preview.shop.svc.cluster.local"
    platform.wait_ready(t, "2.0.0", kube.timeout_s, no_heartbeat)

    # Partial weights are held on preview: no write at all.
    mark = east.mark()
    st = platform.set_weight(t, 30)
    assert east.writes(mark) == []
    assert (
        st.canary is not None and st.canary.weight == 0 and "held on preview" in (st.canary.message)
    )

    # 100 switches the active selector in one write; 0 switches back.
    mark = east.mark()
    st = platform.set_weight(t, 100)
    ws = east.writes(mark)
    assert [(w.method, w.resource) for w in ws] == [("PATCH", "services/shop")]
    assert ws[0].body["spec"]["selector"] == {COLOR: "green"}
    assert st.canary is not None and st.canary.weight == 100
    platform.set_weight(t, 0)
    assert active(east) == ({NAME: "shop", COLOR: "blue"}, "blue")

    # Promote: selector and stable-color in one write; blue stays scaled for the delay.
    mark = east.mark()
    st = platform.promote(t)
    assert [(w.method, w.resource) for w in east.writes(mark)] == [
        ("PATCH", "services/shop"),
        ("PATCH", "deployments/shop-blue"),
    ]
    assert active(east) == ({NAME: "shop", COLOR: "green"}, "green")
    assert replicas(east, "shop-blue") == 2
    blue = east.get(DEPLOYMENT, "shop-blue")
    assert "rollway.dev/scale-down-at" in blue["metadata"]["annotations"]
    assert st.stable is not None and st.stable.version == "2.0.0" and st.stable.weight == 100
    assert st.canary is None and st.previous_stable == "1.0.0"

    # Within the delay, undo is instant: one selector write, nothing to wait for.
    mark = east.mark()
    st = platform.undo(t)
    assert [(w.method, w.resource) for w in east.writes(mark)] == [
        ("PATCH", "deployments/shop-blue"),  # clears its scale-down mark
        ("PATCH", "services/shop"),
        ("PATCH", "deployments/shop-green"),  # green now waits for the delay
    ]
    assert active(east) == ({NAME: "shop", COLOR: "blue"}, "blue")
    assert st.stable is not None and st.stable.version == "1.0.0"
    mark = east.mark()
    platform.undo(t)  # retried: no flip back
    assert east.writes(mark) == []

    # After the delay the retired color is scaled down by the next call.
    time.sleep(1.2)
    platform.status(t)
    assert replicas(east, "shop-green") == 0
    assert replicas(east, "shop-blue") == 2


def test_blue_green_rollback_before_promote(kube: KubeEnv) -> None:
    platform = kube.platform(kube.config(strategy="blue-green", replicas=2))
    t = kube.target()
    east = kube.clusters["east"]
    establish(platform, t, "1.0.0", kube.images.v1)
    platform.deploy(DeployRequest(target=t, version="2.0.0", artifact=kube.images.v2))
    platform.wait_ready(t, "2.0.0", kube.timeout_s, no_heartbeat)
    platform.set_weight(t, 100)

    mark = east.mark()
    st = platform.rollback(t)
    assert [(w.method, w.resource) for w in east.writes(mark)] == [
        ("PATCH", "services/shop"),
        ("PATCH", "deployments/shop-green"),
    ]
    assert active(east) == ({NAME: "shop", COLOR: "blue"}, "blue")
    assert replicas(east, "shop-green") == 0 and replicas(east, "shop-blue") == 2
    assert st.canary is None and st.stable is not None and st.stable.version == "1.0.0"


def test_rolling_promotion_and_rollback(kube: KubeEnv) -> None:
    platform = kube.platform(
        kube.config(strategy="rolling", replicas=3, rolling={"max_surge": 1, "max_unavailable": 0})
    )
    t = kube.target()
    east = kube.clusters["east"]
    establish(platform, t, "1.0.0", kube.images.v1)
    dep = east.get(DEPLOYMENT, "shop")
    assert dep["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    assert dep["spec"]["replicas"] == 3
    assert dict(east.get(SERVICE, "shop")["spec"]["selector"]) == {NAME: "shop", TRACK: "stable"}
    assert not east.exists(DEPLOYMENT, "shop-canary")

    # deploy = one template write; the Deployment's own rollout does the rest.
    mark = east.mark()
    platform.deploy(DeployRequest(target=t, version="2.0.0", artifact=kube.images.v2))
    ws = east.writes(mark)
    assert [(w.method, w.resource) for w in ws] == [("PATCH", "deployments/shop")]
    assert ws[0].body["metadata"]["annotations"]["rollway.dev/rolling-from"] == "1.0.0"
    assert image(east, "shop") == kube.images.v2
    beats: list[str] = []
    st = platform.wait_ready(t, "2.0.0", kube.timeout_s, beats.append)
    assert st.canary is not None and st.canary.version == "2.0.0" and st.canary.weight == 100
    assert st.stable is not None and st.stable.version == "1.0.0"

    mark = east.mark()
    platform.set_weight(t, 50)  # the rollout is not steerable: no write
    assert east.writes(mark) == []

    st = platform.promote(t)
    assert "rollway.dev/rolling-from" not in east.get(DEPLOYMENT, "shop")["metadata"].get(
        "annotations", {}
    )
    assert st.stable is not None and st.stable.version == "2.0.0" and st.canary is None
    assert st.previous_stable == "1.0.0"

    # A rollout rolled back: the old template in the first write, then watched to the end.
    platform.deploy(DeployRequest(target=t, version="3.0.0", artifact=kube.images.v3))
    mark = east.mark()
    st = platform.rollback(t)
    ws = east.writes(mark)
    assert [(w.method, w.resource) for w in ws] == [("PATCH", "deployments/shop")]
    assert image(east, "shop") == kube.images.v2
    assert st.stable is not None and st.stable.version == "2.0.0" and st.stable.ready
    assert st.canary is None
    wait_until(lambda: platform.status(t).stable is not None, 5, "status")
