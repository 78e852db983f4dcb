"""Failures: a failed multi-cluster wave, deadline exceeded, 403, 409, 429/5xx, namespaces."""

from __future__ import annotations

import pytest
from kubernetes import client as k8s

from rollway.platform.base import DeployRequest, PlatformError, no_heartbeat
from rollway.platform.kubernetes.client import KubeClient
from tests.support.kubernetes.harness import (
    DEPLOYMENT,
    SERVICE,
    Call,
    KubeEnv,
    TestCluster,
    establish,
)

NAME = "app.kubernetes.io/name"
TRACK = "rollway.dev/track"


def image(c: TestCluster, name: str) -> str:
    return str(c.get(DEPLOYMENT, name)["spec"]["template"]["spec"]["containers"][0]["image"])


def replicas(c: TestCluster, name: str) -> int:
    return int(c.get(DEPLOYMENT, name)["spec"]["replicas"])


def test_failed_wave_rolls_back_every_cluster(kube: KubeEnv) -> None:
    """Two clusters in order; the second fails, so both return to 1.0.0."""
    platform = kube.platform(
        kube.config(
            clusters=("east", "west"), replicas=2, progress_deadline="20s" if kube.real else "2s"
        )
    )
    east, west = kube.clusters["east"], kube.clusters["west"]
    targets = {name: kube.target(name) for name in ("east", "west")}
    for t in targets.values():
        establish(platform, t, "1.0.0", kube.images.v1, kube.timeout_s)
    kube.fail_new_pods("west", kube.images.v2, keep_pods=2)

    # Wave 1: east takes 2.0.0 all the way.
    t = targets["east"]
    platform.deploy(DeployRequest(target=t, version="2.0.0", artifact=kube.images.v2))
    platform.wait_ready(t, "2.0.0", kube.timeout_s, no_heartbeat)
    platform.set_weight(t, 50)
    platform.promote(t)
    assert image(east, "shop") == kube.images.v2
    east_done = east.mark()

    # Wave 2: west never gets ready.
    t = targets["west"]
    platform.deploy(DeployRequest(target=t, version="2.0.0", artifact=kube.images.v2))
    with pytest.raises(PlatformError) as failure:
        platform.wait_ready(t, "2.0.0", kube.timeout_s, no_heartbeat)
    assert not failure.value.retryable
    assert "ProgressDeadlineExceeded" in str(failure.value)
    assert "cluster 'west'" in str(failure.value)
    assert east.writes(east_done) == []  # west's wave touched only west

    # Both roll back: west's canary, east's promotion (undo).
    mark = west.mark()
    st_west = platform.rollback(targets["west"])
    assert west.writes(mark)[0].resource == "deployments/shop-canary"  # weight was 0 already
    st_east = platform.undo(targets["east"])
    assert image(east, "shop") == kube.images.v1 and image(west, "shop") == kube.images.v1
    assert replicas(west, "shop-canary") == 0 and replicas(east, "shop-canary") == 0
    for c in (east, west):
        assert dict(c.get(SERVICE, "shop")["spec"]["selector"]) == {NAME: "shop", TRACK: "stable"}
    assert st_east.stable is not None and st_east.stable.version == "1.0.0"
    assert st_east.stable.ready
    assert st_west.stable is not None and st_west.stable.version == "1.0.0"
    assert st_west.canary is None


def test_unknown_cluster_is_a_clear_error(kube: KubeEnv) -> None:
    platform = kube.platform(kube.config(clusters=("east", "west")))
    with pytest.raises(
        PlatformError, match="unknown cluster 'north'; configured clusters: east, west"
    ) as e:
        platform.status(kube.target("north"))
    assert not e.value.retryable
    with pytest.raises(PlatformError, match="the target must name one"):
        platform.status(kube.target(None))


def test_progress_deadline_exceeded_fails_with_the_deployment_message(kube: KubeEnv) -> None:
    platform = kube.platform(
        kube.config(progress_deadline="15s" if kube.real else "1s", replicas=1)
    )
    t = kube.target()
    platform.deploy(DeployRequest(target=t, version="6.6.6", artifact=kube.images.broken))
    beats: list[str] = []
    with pytest.raises(PlatformError) as e:
        platform.wait_ready(t, "6.6.6", kube.timeout_s, beats.append)
    message = str(e.value)
    assert not e.value.retryable
    assert "Deployment 'shop-canary'" in message
    assert "ProgressDeadlineExceeded" in message
    assert 'ReplicaSet "shop-canary-' in message and "has timed out progressing" in message
    assert beats and all(b.startswith("shop-canary:") for b in beats)

    # Waiting for the wrong version is a clear error, not a timeout.
    with pytest.raises(PlatformError, match=r"runs version '6\.6\.6', not '7\.0\.0'"):
        platform.wait_ready(t, "7.0.0", 1, no_heartbeat)

    # A fixed version recovers: the old condition is stale once the template changes.
    platform.deploy(DeployRequest(target=t, version="6.6.7", artifact=kube.images.v1))
    st = platform.wait_ready(t, "6.6.7", kube.timeout_s, no_heartbeat)
    assert st.canary is not None and st.canary.ready and st.canary.message == ""


def test_forbidden_names_the_object_and_the_missing_verb(kube: KubeEnv) -> None:
    east = kube.clusters["east"]
    if kube.real:
        # Everything the deploy needs except creating Deployments.
        east.api = kube.restricted_api(
            east,
            [
                {"apiGroups": [""], "resources": ["services"], "verbs": ["get", "create", "patch"]},
                {
                    "apiGroups": ["apps"],
                    "resources": ["deployments"],
                    "verbs": ["get", "list", "patch"],
                },
                {"apiGroups": ["apps"], "resources": ["replicasets"], "verbs": ["list"]},
            ],
        )
    else:
        assert east.emulator is not None and east.emulator.emulator is not None
        east.emulator.emulator.deny("create", "deployments")
    platform = kube.platform(kube.config())
    with pytest.raises(PlatformError) as e:
        platform.deploy(
            DeployRequest(target=kube.target(), version="1.0.0", artifact=kube.images.v1)
        )
    message = str(e.value)
    assert not e.value.retryable
    assert message.startswith(
        f"403 Forbidden: cannot create deployments.apps 'shop-canary' in namespace "
        f"'{east.namespace}' on cluster 'east': grant RBAC verb 'create' on resource "
        "'deployments' in apiGroup apps"
    )
    assert "deploy/rbac/" in message
    assert [c.status for c in east.api.calls if c.method == "POST"][-1] == 403
    assert (
        len([c for c in east.api.calls if c.method == "POST" and c.resource == "deployments"]) == 1
    )  # not retried


def test_conflict_is_reread_and_retried(kube: KubeEnv) -> None:
    platform = kube.platform(kube.config(replicas=2))
    t = kube.target()
    east = kube.clusters["east"]
    establish(platform, t, "1.0.0", kube.images.v1)

    # Someone else writes the canary between our read and our write.
    def race(call: Call) -> bool:
        if call.resource != "deployments/shop-canary":
            return False
        east.patch(DEPLOYMENT, "shop-canary", {"metadata": {"annotations": {"team/owner": "x"}}})
        return True

    east.api.before_write = race
    mark = east.mark()
    platform.deploy(DeployRequest(target=t, version="2.0.0", artifact=kube.images.v2))
    attempts = [
        c
        for c in east.api.calls[mark:]
        if c.method == "PATCH" and c.resource == "deployments/shop-canary"
    ]
    statuses = [c.status for c in attempts]  # the controllers may race us too
    assert statuses[0] == 409 and statuses[-1] == 200 and set(statuses[:-1]) == {409}
    assert (
        attempts[0].body["metadata"]["resourceVersion"]
        != (attempts[-1].body["metadata"]["resourceVersion"])
    )
    canary = east.get(DEPLOYMENT, "shop-canary")
    assert canary["metadata"]["annotations"]["team/owner"] == "x"  # their write survives
    assert image(east, "shop-canary") == kube.images.v2  # and so does ours


def test_throttling_and_server_errors_are_retried_with_backoff(emulated: KubeEnv) -> None:
    kube = emulated
    sleeps: list[float] = []
    platform = kube.platform(kube.config(replicas=2, api_backoff="100ms"))
    t = kube.target()
    east = kube.clusters["east"]
    establish(platform, t, "1.0.0", kube.images.v1)
    platform.kube(platform.config.clusters[0])._sleep = sleeps.append  # record backoff only
    platform.deploy(DeployRequest(target=t, version="2.0.0", artifact=kube.images.v2))
    platform.wait_ready(t, "2.0.0", kube.timeout_s, no_heartbeat)
    emu = east.emulator.emulator if east.emulator else None
    assert emu is not None
    emu.inject("patch", "services", 429, times=2)
    emu.inject("get", "deployments", 503, times=1)
    sleeps.clear()
    mark = east.mark()
    platform.set_weight(t, 50)
    svc_patches = [
        c.status
        for c in east.api.calls[mark:]
        if c.method == "PATCH" and c.resource == "services/shop"
    ]
    assert svc_patches == [429, 429, 200]
    assert sleeps[:1] == [0.1] and 0.2 in sleeps  # backoff doubles
    assert dict(east.get(SERVICE, "shop")["spec"]["selector"]) == {NAME: "shop"}

    # Past the retry budget: a retryable error for the activity to retry.
    emu.inject("patch", "services", 500, times=10)
    with pytest.raises(
        PlatformError, match=r"500 Internal Server Error: injected 500 \(after 3 retries\)"
    ) as e:
        platform.set_weight(t, 0)
    assert e.value.retryable


def test_writes_outside_allowed_namespaces_are_refused(kube: KubeEnv) -> None:
    east = kube.clusters["east"]
    kube_client = KubeClient(east.api, cluster="east", allowed_namespaces=[east.namespace])
    mark = east.mark()
    with pytest.raises(
        PlatformError,
        match=r"refusing to create services 'x' in namespace "
        r"'kube-system'.*not in allowed_namespaces",
    ) as e:
        kube_client.apply(
            SERVICE, "kube-system", "x", lambda cur: {"spec": {"selector": {"a": "b"}}}
        )
    assert not e.value.retryable
    assert east.writes(mark, failed=True) == []  # nothing was sent


def test_unreachable_api_server_is_retryable() -> None:
    cfg = k8s.Configuration()
    cfg.host = "http://127.0.0.1:9"  # discard port: connection refused
    kube_client = KubeClient(
        k8s.ApiClient(cfg), cluster="gone", allowed_namespaces=["shop"], retries=1, backoff_s=0.01
    )
    with pytest.raises(PlatformError, match="cannot reach the API server of cluster 'gone'") as e:
        kube_client.get(DEPLOYMENT, "shop", "shop")
    assert e.value.retryable
