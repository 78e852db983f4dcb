"""`KubernetesPlatform`: the `Platform` protocol on Kubernetes, one cluster per target."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import cast

from kubernetes import client as k8s
from kubernetes import config as k8s_config

from rollway.models import ArgoCDSyncResult
from rollway.platform.base import (
    DeploymentStatus,
    DeployRequest,
    Heartbeat,
    PlatformError,
    Target,
    no_heartbeat,
)
from rollway.platform.kubernetes.argocd import sync_application
from rollway.platform.kubernetes.bluegreen import BlueGreenStrategy
from rollway.platform.kubernetes.canary import CanaryStrategy
from rollway.platform.kubernetes.client import KubeClient
from rollway.platform.kubernetes.config import ClusterConfig, KubernetesPlatformConfig, render_name
from rollway.platform.kubernetes.rolling import RollingStrategy
from rollway.platform.kubernetes.strategy import Ctx, Strategy

ApiClientFactory = Callable[[ClusterConfig | None], k8s.ApiClient]
"""Builds the API client for a cluster (None: the current kubeconfig context)."""


def default_api_client_factory(cluster: ClusterConfig | None) -> k8s.ApiClient:
    """kubeconfig context (or in-cluster service account) per `ClusterConfig`.

    With no cluster: the current kubeconfig context, else the in-cluster account.
    """
    if cluster is not None and cluster.in_cluster:
        return _in_cluster_client()
    if cluster is None:
        try:
            return cast(k8s.ApiClient, k8s_config.new_client_from_config())  # type: ignore[no-untyped-call]
        except k8s_config.ConfigException:
            return _in_cluster_client()
    return cast(
        k8s.ApiClient,
        k8s_config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=cluster.kubeconfig, context=cluster.context
        ),
    )


def _in_cluster_client() -> k8s.ApiClient:
    cfg = k8s.Configuration()
    k8s_config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
    return k8s.ApiClient(cfg)


class KubernetesPlatform:
    """Deploy, shift traffic, promote and roll back on Kubernetes.

    `Target.cluster` picks one of `config.clusters` (by name); each cluster gets its
    own API client from `api_client_factory`, made once and reused.
    """

    def __init__(
        self,
        config: KubernetesPlatformConfig,
        api_client_factory: ApiClientFactory = default_api_client_factory,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self._factory = api_client_factory
        self._sleep = sleep
        self._clients: dict[str | None, KubeClient] = {}
        self._lock = threading.Lock()
        self.strategy: Strategy
        if config.strategy == "blue-green":
            self.strategy = BlueGreenStrategy(config)
        elif config.strategy == "rolling":
            self.strategy = RollingStrategy(config)
        else:
            self.strategy = CanaryStrategy(config)

    # --- plumbing ----------------------------------------------------------------------

    def _cluster(self, target: Target) -> ClusterConfig | None:
        try:
            return self.config.cluster(target.cluster)
        except KeyError as exc:
            raise PlatformError(f"{target.label()}: {exc.args[0]}", retryable=False) from exc

    def kube(self, cluster: ClusterConfig | None) -> KubeClient:
        """The (cached) client for a cluster."""
        key = cluster.name if cluster else None
        with self._lock:
            if key not in self._clients:
                try:
                    api_client = self._factory(cluster)
                except Exception as exc:
                    name = cluster.name if cluster else "current context"
                    raise PlatformError(
                        f"cannot build a Kubernetes client for cluster '{name}': {exc}",
                        retryable=False,
                    ) from exc
                self._clients[key] = KubeClient(
                    api_client,
                    cluster=key or "current-context",
                    allowed_namespaces=self.config.writable_namespaces,
                    retries=self.config.api_retries,
                    backoff_s=self.config.api_backoff.total_seconds(),
                    sleep=self._sleep,
                )
            return self._clients[key]

    def _ctx(self, target: Target) -> Ctx:
        cluster = self._cluster(target)
        return Ctx(
            kube=self.kube(cluster),
            namespace=self.config.namespace_for(cluster),
            target=target,
            cfg=self.config,
            sleep=self._sleep,
        )

    # --- the Platform protocol ---------------------------------------------------------

    def deploy(self, request: DeployRequest) -> DeploymentStatus:
        """Start `request.version` as canary at weight 0; no-op if it already is."""
        return self.strategy.deploy(self._ctx(request.target), request)

    def wait_ready(
        self, target: Target, version: str, timeout_s: float, heartbeat: Heartbeat
    ) -> DeploymentStatus:
        """Block until the canary `version` is ready, or raise `PlatformError`."""
        return self.strategy.wait_ready(self._ctx(target), version, timeout_s, heartbeat)

    def set_weight(self, target: Target, weight: int) -> DeploymentStatus:
        """Send `weight` percent of traffic to the canary, the rest to stable."""
        if not 0 <= weight <= 100:
            raise PlatformError(f"weight {weight} is not between 0 and 100", retryable=False)
        return self.strategy.set_weight(self._ctx(target), weight)

    def promote(self, target: Target) -> DeploymentStatus:
        """Make the canary the stable at 100 % and retire the old stable."""
        return self.strategy.promote(self._ctx(target))

    def rollback(self, target: Target) -> DeploymentStatus:
        """Canary weight to 0 first, then stop the canary; stable untouched."""
        return self.strategy.rollback(self._ctx(target))

    def undo(self, target: Target, to_version: str | None = None) -> DeploymentStatus:
        """Return stable to its previous version (or `to_version`), as `rollout undo` does."""
        return self.strategy.undo(self._ctx(target), to_version)

    def status(self, target: Target) -> DeploymentStatus:
        """What runs now, read from the cluster."""
        return self.strategy.status(self._ctx(target))

    # --- beyond the protocol -----------------------------------------------------------

    def sync_argocd(
        self,
        target: Target,
        revision: str,
        heartbeat: Heartbeat = no_heartbeat,
    ) -> ArgoCDSyncResult:
        """Staging through Argo CD: sync `config.argocd.application` to `revision`, wait."""
        opts = self.config.argocd
        if opts is None:
            raise PlatformError(
                f"{target.label()}: no 'argocd' section in the platform config", retryable=False
            )
        ctx = self._ctx(target)
        return sync_application(
            ctx.kube,
            name=render_name(opts.application, target.service),
            namespace=opts.namespace,
            revision=revision,
            timeout_s=opts.timeout.total_seconds(),
            poll_s=ctx.poll_s,
            heartbeat=heartbeat,
            pin_target_revision=opts.pin_target_revision,
            sleep=self._sleep,
        )
