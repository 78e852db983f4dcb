"""The Kubernetes platform: canary (replicas, Gateway API, Istio), blue-green, rolling.

    platform = KubernetesPlatform(KubernetesPlatformConfig(namespace="shop"))
    platform.deploy(DeployRequest(target=..., version="1.4.0", artifact="repo@sha256:…"))

See docs/kubernetes.md.
"""

from rollway.platform.kubernetes.argocd import ArgoCDSyncResult, sync_application
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
