"""The platform interface: where versions run and how traffic reaches them.

Every platform (the local HAProxy platform, Kubernetes) implements `Platform`.
Workflows never see a platform: activities look one up by the environment's
`platform.kind` (see `rollway.platform.registry`) and call these methods.

Contract, for every implementation:
- Every method is idempotent: calling it twice with the same arguments leaves
  the same state as calling it once (activities are retried).
- `rollback` puts 100 % of traffic on stable in its *first* write, then cleans up.
- Errors a retry cannot fix raise `PlatformError(retryable=False)` with a
  message naming the object and what to do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, Protocol

from pydantic import BaseModel, Field


class PlatformError(Exception):
    """A platform operation failed; `retryable=False` means retrying cannot help."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class Target(BaseModel):
    """One place a service runs: a service in an environment (and cluster, for waves)."""

    service: str
    environment: str
    cluster: str | None = Field(
        default=None, description="Cluster name for multi-cluster environments; None if single."
    )

    def label(self) -> str:
        base = f"{self.service}/{self.environment}"
        return f"{base}@{self.cluster}" if self.cluster else base


class DeployRequest(BaseModel):
    """Start `version` as the canary of `target`, at 0 % traffic."""

    target: Target
    version: str
    artifact: str = Field(
        description="What to run: a build output directory (local) or an image reference "
        "(`repo@sha256:…` or `repo:tag`, Kubernetes)."
    )
    commit: str = ""


VersionRole = Literal["stable", "canary"]


class VersionStatus(BaseModel):
    """One running version of a service in a target."""

    version: str
    role: VersionRole
    artifact: str = ""
    ready: bool = False
    desired: int = 1
    available: int = 0
    weight: int = Field(default=0, ge=0, le=100, description="Share of traffic, percent.")
    endpoint: str | None = Field(
        default=None, description="Direct address of this version, bypassing the splitter."
    )
    message: str = ""
    instance: str = Field(
        default="",
        description="The platform's name for this build where traffic and metrics are split "
        "by it (local: the HAProxy server); differs from `version` when two builds share a label.",
    )


class DeploymentStatus(BaseModel):
    """What a target runs now and how traffic is split."""

    target: Target
    stable: VersionStatus | None = None
    canary: VersionStatus | None = None
    previous_stable: str | None = Field(
        default=None, description="The version `undo` returns to, if known."
    )
    frontend_url: str | None = Field(
        default=None, description="Where users' traffic enters (HAProxy frontend, Service)."
    )

    @property
    def canary_weight(self) -> int:
        return self.canary.weight if self.canary else 0


Heartbeat = Callable[[str], None]
"""Called with a progress message during long waits (an activity heartbeat)."""


def no_heartbeat(_: str) -> None:
    """A `Heartbeat` that does nothing (for use outside activities)."""


class Platform(Protocol):
    """Deploy versions, split traffic, promote, roll back."""

    def deploy(self, request: DeployRequest) -> DeploymentStatus:
        """Start `request.version` as canary at weight 0; no-op if it already is."""
        ...

    def wait_ready(
        self, target: Target, version: str, timeout_s: float, heartbeat: Heartbeat
    ) -> DeploymentStatus:
        """Block until the canary `version` is ready, or raise `PlatformError`."""
        ...

    def set_weight(self, target: Target, weight: int) -> DeploymentStatus:
        """Send `weight` percent of traffic to the canary, the rest to stable."""
        ...

    def promote(self, target: Target) -> DeploymentStatus:
        """Make the canary the stable at 100 % and retire the old stable."""
        ...

    def rollback(self, target: Target) -> DeploymentStatus:
        """Canary weight to 0 first, then stop the canary; stable untouched."""
        ...

    def undo(self, target: Target, to_version: str | None = None) -> DeploymentStatus:
        """Return stable to its previous version (or `to_version`), as `rollout undo` does."""
        ...

    def status(self, target: Target) -> DeploymentStatus:
        """What runs now, read from the platform itself."""
        ...
