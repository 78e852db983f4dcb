"""The Kubernetes platform: canary (replicas, Gateway API, Istio), blue-green, rolling.

    platform = KubernetesPlatform(KubernetesPlatformConfig(namespace="shop"))
    platform.deploy(DeployRequest(target=..., version="1.4.0", artifact="repo@sha256:…"))

See docs/kubernetes.md.
"""

# Submodules load on first use (rollway.lazy): the spec imports only the config models.
from __future__ import annotations

from typing import TYPE_CHECKING

from rollway.lazy import lazy_attributes

if TYPE_CHECKING:
    from rollway.models import ArgoCDSyncResult
    from rollway.platform.kubernetes.argocd import sync_application
    from rollway.platform.kubernetes.config import (
        ArgoCDOptions,
        BlueGreenOptions,
        CanaryOptions,
        ClusterConfig,
        KubernetesPlatformConfig,
        RollingOptions,
    )
    from rollway.platform.kubernetes.platform import (
        ApiClientFactory,
        KubernetesPlatform,
        default_api_client_factory,
    )

_WHERE = {
    "ApiClientFactory": "rollway.platform.kubernetes.platform",
    "ArgoCDOptions": "rollway.platform.kubernetes.config",
    "ArgoCDSyncResult": "rollway.models",
    "BlueGreenOptions": "rollway.platform.kubernetes.config",
    "CanaryOptions": "rollway.platform.kubernetes.config",
    "ClusterConfig": "rollway.platform.kubernetes.config",
    "KubernetesPlatform": "rollway.platform.kubernetes.platform",
    "KubernetesPlatformConfig": "rollway.platform.kubernetes.config",
    "RollingOptions": "rollway.platform.kubernetes.config",
    "default_api_client_factory": "rollway.platform.kubernetes.platform",
    "sync_application": "rollway.platform.kubernetes.argocd",
}


__getattr__ = lazy_attributes(__name__, _WHERE)


__all__ = [
    "ApiClientFactory",
    "ArgoCDOptions",
    "ArgoCDSyncResult",
    "BlueGreenOptions",
    "CanaryOptions",
    "ClusterConfig",
    "KubernetesPlatform",
    "KubernetesPlatformConfig",
    "RollingOptions",
    "default_api_client_factory",
    "sync_application",
]
