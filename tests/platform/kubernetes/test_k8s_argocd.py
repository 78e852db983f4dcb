"""Argo CD staging: sync an Application to a revision through the Kubernetes API."""

from __future__ import annotations

import os

import pytest

from rollway.platform.base import PlatformError
from rollway.platform.kubernetes import KubernetesPlatform, sync_application
from tests.support.kubernetes.harness import APPLICATION, KubeEnv, TestCluster


def _platform(kube: KubeEnv, timeout: str = "20s") -> tuple[KubernetesPlatform, TestCluster]:
    if kube.real and not (
        os.environ.get("ROLLWAY_KUBE_ARGOCD") == "1"
        and kube.has_api("east", "argoproj.io/v1alpha1", "applications")
    ):
        pytest.skip("set ROLLWAY_KUBE_ARGOCD=1 on a cluster running Argo CD")
    east = kube.clusters["east"]
    east.create(
        APPLICATION,
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {"name": "shop-staging"},
            "spec": {
                "project": "default",
                "source": {
                    "repoURL": "https://git.example.com/shop-deploy.git",
                    "path": "overlays/staging",
                    "targetRevision": "main",
                },
                "destination": {"server": "https://kubernetes.default.svc", "namespace": "shop"},
            },
        },
        namespace=kube.argocd_namespace,
    )
    platform = kube.platform(
        kube.config(
            argocd={
                "application": "{service}-staging",
                "namespace": kube.argocd_namespace,
                "timeout": timeout,
            }
        )
    )
    return platform, east


def test_argocd_sync_sets_the_operation_and_waits_for_synced_healthy(kube: KubeEnv) -> None:
    platform, east = _platform(kube)
    t = kube.target()
    revision = "v1.4.0"
    beats: list[str] = []
    mark = east.mark()
    result = platform.sync_argocd(t, revision, beats.append)
    ws = east.writes(mark)
    assert [(w.method, w.resource) for w in ws] == [("PATCH", "applications/shop-staging")]
    assert ws[0].body["operation"] == {
        "initiatedBy": {"username": "rollway"},
        "info": [{"name": "Reason", "value": "rollway: sync to v1.4.0"}],
        "sync": {"revision": "v1.4.0"},
    }
    assert ws[0].body["spec"] == {"source": {"targetRevision": "v1.4.0"}}
    assert "resourceVersion" in ws[0].body["metadata"]
    assert (result.sync_status, result.health_status, result.phase) == (
        "Synced",
        "Healthy",
        "Succeeded",
    )
    app = east.get(APPLICATION, "shop-staging", kube.argocd_namespace)
    assert "operation" not in app
    assert app["status"]["operationState"]["operation"]["sync"]["revision"] == revision

    # Already synced at that revision: nothing to write.
    mark = east.mark()
    again = platform.sync_argocd(t, revision)
    assert east.writes(mark) == [] and again.phase == "Succeeded"


def test_argocd_failed_sync_reports_the_application_messages(emulated: KubeEnv) -> None:
    platform, east = _platform(emulated)
    assert east.controllers is not None
    east.controllers.argo_fail_revisions.add("bad1234")
    with pytest.raises(PlatformError) as e:
        platform.sync_argocd(emulated.target(), "bad1234")
    message = str(e.value)
    assert not e.value.retryable
    assert message.startswith("Argo CD Application 'shop-staging' in namespace 'argocd'")
    assert "sync to 'bad1234' failed: operation Failed: one or more objects failed to apply" in (
        message
    )
    assert "Deployment/shop-staging: SyncFailed" in message


def test_argocd_timeout_names_what_the_application_says(emulated: KubeEnv) -> None:
    platform, east = _platform(emulated, timeout="1s")
    assert east.controllers is not None
    east.controllers.argo_hang_revisions.add("v9")
    with pytest.raises(PlatformError) as e:
        platform.sync_argocd(emulated.target(), "v9")
    message = str(e.value)
    assert "did not become Synced and Healthy at 'v9' within 1s" in message
    assert "waiting for healthy state of apps/Deployment/shop-staging" in message
    assert 'health Progressing (Deployment "shop-staging" exceeded its progress deadline)' in (
        message
    )

    # A different revision while that one runs: retryable, nothing written.
    mark = east.mark()
    with pytest.raises(PlatformError, match="still running") as busy:
        sync_application(
            east.api,
            name="shop-staging",
            namespace=emulated.argocd_namespace,
            revision="v10",
            timeout_s=1,
            cluster="east",
        )
    assert busy.value.retryable and east.writes(mark) == []
