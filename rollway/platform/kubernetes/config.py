"""`KubernetesPlatformConfig`: how an environment runs on Kubernetes.

The model is meant to join the spec's `PlatformConfig` union (discriminator
`kind`). It does not import `rollway.spec` so that the spec can import it.
Names of objects may contain `{service}`, replaced with `Target.service`.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from rollway.durations import Duration

DNS_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
"""RFC 1123 label: namespaces, Services, Deployments (we keep names to labels)."""

_PERCENT_RE = re.compile(r"^(\d{1,3})%$")

Strategy = Literal["canary", "blue-green", "rolling"]
TrafficMode = Literal["replicas", "gateway-api", "istio"]


class _Model(BaseModel):
    """Unknown keys are errors (a typo must not be ignored)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


def render_name(template: str, service: str) -> str:
    """Replace `{service}` in an object-name template."""
    return template.replace("{service}", service)


def _check_name_template(value: str, field: str) -> str:
    rendered = render_name(value, "svc")
    if "{" in rendered or not DNS_LABEL_RE.match(rendered):
        raise ValueError(
            f"{field} '{value}' is not a valid object name: use lowercase letters, digits "
            "and '-', at most 63 characters; '{service}' is replaced by the service name"
        )
    return value


def _check_surge(value: int | str, field: str) -> int | str:
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"{field} must be >= 0 (a count of pods) or a percentage like '25%'")
        return value
    m = _PERCENT_RE.match(value.strip())
    if not m or int(m.group(1)) > 100:
        raise ValueError(
            f"{field} '{value}' is neither a pod count nor a percentage; write e.g. 1 or '25%'"
        )
    return value.strip()


def _is_zero(value: int | str) -> bool:
    return value == 0 or (isinstance(value, str) and int(value.rstrip("%")) == 0)


class ClusterConfig(_Model):
    """One cluster of a multi-cluster environment; waves go through them in list order."""

    name: str = Field(description="The name `Target.cluster` uses, e.g. 'eu-west-1'.")
    context: str | None = Field(
        default=None, description="kubeconfig context to use for this cluster."
    )
    in_cluster: bool = Field(
        default=False, description="Use the pod's service account (Rollway runs in this cluster)."
    )
    kubeconfig: str | None = Field(
        default=None, description="kubeconfig file; default $KUBECONFIG or ~/.kube/config."
    )
    namespace: str | None = Field(
        default=None, description="Namespace in this cluster; default the platform's namespace."
    )

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not DNS_LABEL_RE.match(v):
            raise ValueError(
                f"cluster name '{v}' must be lowercase letters, digits and '-' (e.g. 'eu-west-1')"
            )
        return v

    @model_validator(mode="after")
    def _one_source(self) -> ClusterConfig:
        if self.in_cluster and (self.context or self.kubeconfig):
            raise ValueError(
                f"cluster '{self.name}': set either 'context' (kubeconfig) or 'in_cluster: true', "
                "not both"
            )
        if not self.in_cluster and not self.context:
            raise ValueError(
                f"cluster '{self.name}' needs 'context: <kubeconfig context>' or 'in_cluster: true'"
            )
        return self


class CanaryOptions(_Model):
    """Canary: a `<service>-canary` Deployment next to the stable `<service>` one."""

    traffic: TrafficMode = Field(
        default="replicas",
        description="How weight reaches users: replica ratio behind one Service, a Gateway API "
        "HTTPRoute, or an Istio VirtualService.",
    )
    stable_service: str = Field(
        default="{service}",
        description="Service of the stable version (the main Service in 'replicas' mode).",
    )
    canary_service: str = Field(
        default="{service}-canary",
        description="Service of the canary only (its direct endpoint; a backend in routed modes).",
    )
    http_route: str = Field(
        default="{service}", description="gateway-api: the HTTPRoute whose weights are managed."
    )
    virtual_service: str = Field(
        default="{service}", description="istio: the VirtualService whose weights are managed."
    )
    virtual_service_route: str | None = Field(
        default=None,
        description="istio: name of the VirtualService http route to manage; default every "
        "route with a destination on the stable subset.",
    )
    destination_rule: str = Field(
        default="{service}", description="istio: the DestinationRule holding the subsets."
    )
    stable_subset: str = "stable"
    canary_subset: str = "canary"
    istio_api_version: Literal["v1", "v1beta1"] = Field(
        default="v1", description="networking.istio.io version (v1 needs Istio >= 1.22)."
    )
    canary_replicas: int | None = Field(
        default=None,
        ge=1,
        description="gateway-api/istio: canary pods (default `replicas`). In 'replicas' mode "
        "the canary's pods follow the weight.",
    )

    @field_validator(
        "stable_service", "canary_service", "http_route", "virtual_service", "destination_rule"
    )
    @classmethod
    def _names(cls, v: str, info: ValidationInfo) -> str:
        return _check_name_template(v, f"canary.{info.field_name}")

    @field_validator("stable_subset", "canary_subset")
    @classmethod
    def _subset(cls, v: str, info: ValidationInfo) -> str:
        if not DNS_LABEL_RE.match(v):
            raise ValueError(
                f"canary.{info.field_name} '{v}' must be a DNS label "
                "(lowercase letters, digits, '-')"
            )
        return v

    @model_validator(mode="after")
    def _distinct(self) -> CanaryOptions:
        if self.stable_service == self.canary_service:
            raise ValueError(
                "canary.stable_service and canary.canary_service are the same; the canary needs "
                "its own Service (e.g. '{service}-canary')"
            )
        if self.stable_subset == self.canary_subset:
            raise ValueError("canary.stable_subset and canary.canary_subset must differ")
        return self


class BlueGreenOptions(_Model):
    """Blue-green: `<service>-blue` and `<service>-green`; the active Service points at one."""

    active_service: str = Field(
        default="{service}", description="The Service users reach; its selector picks a color."
    )
    preview_service: str = Field(
        default="{service}-preview", description="The Service on the new (not yet live) color."
    )
    scale_down_delay: Duration = Field(
        default=timedelta(seconds=30),
        description="How long the old color stays scaled after promote, for instant undo.",
    )

    @field_validator("active_service", "preview_service")
    @classmethod
    def _names(cls, v: str, info: ValidationInfo) -> str:
        return _check_name_template(v, f"blue_green.{info.field_name}")

    @model_validator(mode="after")
    def _distinct(self) -> BlueGreenOptions:
        if self.active_service == self.preview_service:
            raise ValueError(
                "blue_green.active_service and blue_green.preview_service must differ "
                "(e.g. '{service}' and '{service}-preview')"
            )
        return self


class RollingOptions(_Model):
    """Rolling: the Deployment's own RollingUpdate, watched to completion."""

    max_surge: int | str = Field(default="25%", description="Pods above `replicas` (or '%').")
    max_unavailable: int | str = Field(
        default=0, description="Pods below `replicas` during the update (or '%')."
    )

    @field_validator("max_surge")
    @classmethod
    def _surge(cls, v: int | str) -> int | str:
        return _check_surge(v, "rolling.max_surge")

    @field_validator("max_unavailable")
    @classmethod
    def _unavailable(cls, v: int | str) -> int | str:
        return _check_surge(v, "rolling.max_unavailable")

    @model_validator(mode="after")
    def _not_both_zero(self) -> RollingOptions:
        if _is_zero(self.max_surge) and _is_zero(self.max_unavailable):
            raise ValueError(
                "rolling.max_surge and rolling.max_unavailable are both 0, so the rollout could "
                "never progress; set max_surge: 1 (or max_unavailable: 1)"
            )
        return self


class ArgoCDOptions(_Model):
    """Staging through Argo CD: sync an Application to the release's revision."""

    application: str = Field(description="Argo CD Application name; `{service}` is replaced.")
    namespace: str = Field(default="argocd", description="Where the Application object lives.")
    timeout: Duration = Field(default=timedelta(minutes=10))
    pin_target_revision: bool = Field(
        default=True,
        description="Also set spec.source.targetRevision so the app stays Synced at that "
        "revision (otherwise Argo CD reports OutOfSync against its old target).",
    )

    @field_validator("application")
    @classmethod
    def _app(cls, v: str) -> str:
        rendered = render_name(v, "svc")
        if "{" in rendered or not re.match(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$", rendered):
            raise ValueError(
                f"argocd.application '{v}' is not a valid Application name (lowercase letters, "
                "digits, '-' and '.'); '{service}' is replaced by the service name"
            )
        return v

    @field_validator("namespace")
    @classmethod
    def _ns(cls, v: str) -> str:
        if not DNS_LABEL_RE.match(v):
            raise ValueError(f"argocd.namespace '{v}' is not a valid namespace name")
        return v


class KubernetesPlatformConfig(_Model):
    """An environment on Kubernetes: strategy, traffic, clusters and safety limits."""

    kind: Literal["kubernetes"] = "kubernetes"
    namespace: str = Field(description="Namespace of the service's objects.")
    allowed_namespaces: list[str] = Field(
        default_factory=list,
        description="Namespaces Rollway may write to; default just `namespace`. Every write "
        "outside this list is refused.",
    )
    strategy: Strategy = "canary"
    canary: CanaryOptions | None = Field(default=None, description="strategy: canary only.")
    blue_green: BlueGreenOptions | None = Field(
        default=None, description="strategy: blue-green only."
    )
    rolling: RollingOptions | None = Field(default=None, description="strategy: rolling only.")
    replicas: int = Field(default=2, ge=1, le=1000, description="Pods of the stable version.")
    progress_deadline: Duration = Field(
        default=timedelta(minutes=10),
        description="Deployment progressDeadlineSeconds: no progress for this long fails.",
    )
    container: str | None = Field(
        default=None,
        description="Container whose image is replaced; default the first container.",
    )
    container_port: int = Field(default=8080, ge=1, le=65535)
    service_port: int = Field(default=80, ge=1, le=65535)
    frontend_url: str | None = Field(
        default=None, description="Where users reach the service (default the Service's DNS)."
    )
    clusters: list[ClusterConfig] = Field(
        default_factory=list,
        description="Clusters for multi-cluster waves, in wave order; empty = current context.",
    )
    argocd: ArgoCDOptions | None = None
    poll_interval: Duration = Field(default=timedelta(seconds=2))
    api_retries: int = Field(default=5, ge=0, le=50, description="Retries on 429/5xx/network.")
    api_backoff: Duration = Field(
        default=timedelta(milliseconds=500), description="First retry delay; doubles, max 30s."
    )

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, v: str) -> str:
        if not DNS_LABEL_RE.match(v):
            raise ValueError(
                f"namespace '{v}' is not a valid namespace name (lowercase letters, digits, '-')"
            )
        return v

    @model_validator(mode="after")
    def _consistent(self) -> KubernetesPlatformConfig:
        sections = {"canary": self.canary, "blue-green": self.blue_green, "rolling": self.rolling}
        keys = {"canary": "canary", "blue-green": "blue_green", "rolling": "rolling"}
        for strategy, section in sections.items():
            if section is not None and strategy != self.strategy:
                raise ValueError(
                    f"'{keys[strategy]}' options are set but strategy is '{self.strategy}'; "
                    f"remove '{keys[strategy]}' or set strategy: {strategy}"
                )
        allowed = self.writable_namespaces
        for ns in allowed:
            if not DNS_LABEL_RE.match(ns):
                raise ValueError(f"allowed_namespaces: '{ns}' is not a valid namespace name")
        if self.namespace not in allowed:
            raise ValueError(
                f"namespace '{self.namespace}' is not in allowed_namespaces {sorted(allowed)}; "
                "add it there"
            )
        names = [c.name for c in self.clusters]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"clusters: duplicate name(s) {dupes}; each cluster needs its own")
        for i, c in enumerate(self.clusters):
            if c.namespace is not None and c.namespace not in allowed:
                raise ValueError(
                    f"clusters[{i}] ('{c.name}'): namespace '{c.namespace}' is not in "
                    f"allowed_namespaces {sorted(allowed)}; add it there"
                )
        if self.argocd is not None and self.argocd.namespace not in allowed:
            raise ValueError(
                f"argocd.namespace '{self.argocd.namespace}' is not in allowed_namespaces "
                f"{sorted(allowed)}; syncing patches the Application there, so add it"
            )
        if self.progress_deadline < timedelta(seconds=1):
            raise ValueError("progress_deadline must be at least 1s (e.g. '10m')")
        if self.poll_interval <= timedelta(0):
            raise ValueError("poll_interval must be positive (e.g. '2s')")
        return self

    @property
    def writable_namespaces(self) -> frozenset[str]:
        """Namespaces writes are allowed in."""
        return frozenset(self.allowed_namespaces or [self.namespace])

    @property
    def canary_options(self) -> CanaryOptions:
        return self.canary or CanaryOptions()

    @property
    def blue_green_options(self) -> BlueGreenOptions:
        return self.blue_green or BlueGreenOptions()

    @property
    def rolling_options(self) -> RollingOptions:
        return self.rolling or RollingOptions()

    @property
    def supports_partial_weights(self) -> bool:
        """False when 0 < weight < 100 cannot be honoured (blue-green, rolling).

        A spec validator can reject canary steps between 0 and 100 for these.
        """
        return self.strategy == "canary"

    @property
    def weight_granularity(self) -> int:
        """Smallest weight step, percent: `ceil(100 / replicas)` in replica mode, else 1."""
        if self.strategy == "canary" and self.canary_options.traffic == "replicas":
            return -(-100 // self.replicas)
        return 1

    def cluster(self, name: str | None) -> ClusterConfig | None:
        """The cluster `Target.cluster` names; None means the current context."""
        if name is None:
            if len(self.clusters) <= 1:
                return self.clusters[0] if self.clusters else None
            raise KeyError(
                f"this environment has {len(self.clusters)} clusters "
                f"({', '.join(c.name for c in self.clusters)}); the target must name one"
            )
        for c in self.clusters:
            if c.name == name:
                return c
        known = ", ".join(c.name for c in self.clusters) or "none (current context only)"
        raise KeyError(f"unknown cluster '{name}'; configured clusters: {known}")

    def namespace_for(self, cluster: ClusterConfig | None) -> str:
        return (cluster.namespace if cluster and cluster.namespace else None) or self.namespace
