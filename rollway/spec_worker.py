"""Platform credentials are worker configuration, never pipeline fields a caller chooses.

The worker reads `ROLLWAY_WORKER_CONFIG` (a YAML file, see docs/catalog.md):

    kubernetes:
      kubeconfig: /etc/rollway/kube/config    # default $KUBECONFIG, else ~/.kube/config
      clusters:                               # a pipeline's cluster name -> its credentials
        eu-west-1: {context: prod-eu}
        us-east-1: {in_cluster: true}
      writable_namespaces: [shop, shop-staging, argocd]

A pipeline's `clusters[].kubeconfig` (a file the worker would read credentials from)
is refused when the pipeline is loaded. Once the worker names clusters, they replace a
pipeline's `context`/`in_cluster`, and a cluster it does not name is refused;
`writable_namespaces` bounds every write whatever the pipeline's `allowed_namespaces`
say. AWS credentials and
roles come from boto3's default chain on the worker; no pipeline field names one.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from rollway.platform.kubernetes.config import DNS_LABEL_RE, KubernetesPlatformConfig
from rollway.spec import PipelineSpec

log = logging.getLogger(__name__)


class WorkerConfigError(Exception):
    """The worker config file is missing or invalid; the message names the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ClusterCredentials(_Strict):
    """How the worker reaches one cluster: a kubeconfig context or the pod's account."""

    context: str | None = None
    in_cluster: bool = False

    @model_validator(mode="after")
    def _one(self) -> ClusterCredentials:
        if bool(self.context) == self.in_cluster:
            raise ValueError("set exactly one of 'context: <kubeconfig context>' or 'in_cluster'")
        return self


class KubernetesWorkerConfig(_Strict):
    kubeconfig: str | None = Field(
        default=None, description="kubeconfig file; default $KUBECONFIG, else ~/.kube/config."
    )
    clusters: dict[str, ClusterCredentials] = Field(default_factory=dict)
    writable_namespaces: list[str] | None = Field(
        default=None,
        description="Every namespace this worker may write; None: the pipeline's "
        "allowed_namespaces (for workers configured before this setting).",
    )

    @model_validator(mode="after")
    def _names(self) -> KubernetesWorkerConfig:
        for ns in self.writable_namespaces or []:
            if not DNS_LABEL_RE.match(ns):
                raise ValueError(f"writable_namespaces: '{ns}' is not a namespace name")
        return self


class WorkerConfig(_Strict):
    kubernetes: KubernetesWorkerConfig = Field(default_factory=KubernetesWorkerConfig)


def worker_config() -> WorkerConfig:
    """`$ROLLWAY_WORKER_CONFIG`, read at each call (small; edits apply without a restart)."""
    path = os.environ.get("ROLLWAY_WORKER_CONFIG")
    if not path:
        return WorkerConfig()
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        return WorkerConfig.model_validate(data)
    except OSError as e:
        raise WorkerConfigError(f"ROLLWAY_WORKER_CONFIG {path}: {e.strerror or e}") from None
    except (yaml.YAMLError, ValidationError) as e:
        raise WorkerConfigError(f"ROLLWAY_WORKER_CONFIG {path}: {e}") from None


def refused_fields(spec: PipelineSpec) -> list[tuple[str, str]]:
    """Pipeline fields that would choose the worker's credentials: `(path, what to do)`."""
    problems = []
    for name, env in spec.environments.items():
        platform = env.platform
        if not isinstance(platform, KubernetesPlatformConfig):
            continue
        for i, cluster in enumerate(platform.clusters):
            if cluster.kubeconfig is not None:
                problems.append(
                    (
                        f"environments.{name}.platform.clusters[{i}].kubeconfig",
                        "a kubeconfig file is worker configuration, not a pipeline field: "
                        "remove it and set `kubernetes.kubeconfig` in the worker's "
                        "ROLLWAY_WORKER_CONFIG file (or KUBECONFIG on the worker)",
                    )
                )
    return problems


def with_worker_config(
    config: KubernetesPlatformConfig, worker: KubernetesWorkerConfig
) -> KubernetesPlatformConfig:
    """The environment's platform with the worker's credentials and namespace bound.

    A pipeline's `kubeconfig` (only in executions that started before the catalog) is
    ignored with a warning; the worker's clusters replace the pipeline's context.
    """
    clusters = []
    for c in config.clusters:
        if c.kubeconfig is not None:
            log.warning(
                "cluster %s: ignoring the pipeline's kubeconfig %s (worker configuration only)",
                c.name,
                c.kubeconfig,
            )
        creds = worker.clusters.get(c.name)
        if creds is None and worker.clusters:
            raise WorkerConfigError(
                f"cluster '{c.name}' has no credentials in this worker's configuration "
                f"(it knows {', '.join(sorted(worker.clusters))}): add "
                f"`kubernetes.clusters.{c.name}: {{context: …}}` to ROLLWAY_WORKER_CONFIG"
            )
        update: dict[str, object] = {"kubeconfig": worker.kubeconfig}
        if creds is not None:
            update |= {"context": creds.context, "in_cluster": creds.in_cluster}
        clusters.append(c.model_copy(update=update))
    update_config: dict[str, object] = {"clusters": clusters}
    if worker.writable_namespaces is not None:
        if config.namespace not in worker.writable_namespaces:
            raise WorkerConfigError(
                f"namespace '{config.namespace}' is not among this worker's writable_namespaces "
                f"{sorted(worker.writable_namespaces)}: add it to `kubernetes.writable_namespaces` "
                "in ROLLWAY_WORKER_CONFIG, or promote to a namespace it may write"
            )
        allowed = config.writable_namespaces & set(worker.writable_namespaces)
        update_config["allowed_namespaces"] = sorted(allowed)
    return config.model_copy(update=update_config)
