"""Rollback payloads: return a service to a release that passed its canary.

`RollbackWorkflow` (workflows/rollback/) takes the service's environment lock,
picks the target among verified releases (`VerifiedRelease`, found by the
`find_releases` activity in Temporal's own records of finished promotions),
moves traffic through the same platform activities promotions use, verifies it
with the pipeline's smoke checks and metrics, and records the outcome. Its
`state` query returns a `RollbackState`, which is a `PromotionState` with a few
more fields, so `rollway status <id>` reads it like a promotion.

Started from Temporal directly (no CLI), the input is plain JSON:

    temporal workflow start --type RollbackWorkflow --task-queue rollway \\
      --workflow-id rollback-demo-production-1 \\
      --input '{"services": ["demo"], "environment": "production", "previous": true,
                "by": "carol", "reason": "pager", "pipeline": <the pipeline as JSON>}'
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, model_validator

from rollway.fields import Person, Text
from rollway.models import PromotionState
from rollway.security.decisions import SignedDecision
from rollway.security.inputs import check_name, check_version
from rollway.spec import PipelineSpec
from rollway.spec_catalog import check_pipeline_name

RELEASE_MANAGER = "release-manager"
"""The group whose members may force a rollback to a release that never passed a canary."""

MAX_SERVICES = 1
"""Services one rollback handles today; the input is a list so scopes can come later."""

ID_PREFIX = "rollback-"


def _service(v: str) -> str:
    return check_name(v, "services[]")


def _environment(v: str) -> str:
    return check_name(v, "environment")


def _version(v: str | None) -> str | None:
    return None if v is None else check_version(v, "to_version")


class RollbackInput(BaseModel):
    """Return `services` in `environment` to a verified release (`to_version`, else the previous)."""

    services: list[Annotated[str, AfterValidator(_service)]] = Field(
        min_length=1,
        description="The services to roll back. One today; a list so scopes (all "
        "services, backend only…) can come without changing the input.",
    )
    environment: Annotated[str, AfterValidator(_environment)] = "production"
    to_version: Annotated[str | None, AfterValidator(_version)] = Field(
        default=None, description="The release to return to; None: the previous verified one."
    )
    previous: bool = Field(
        default=False, description="Return to the previous verified release (the default)."
    )
    pipeline_name: Annotated[
        str | None,
        AfterValidator(lambda v: None if v is None else check_pipeline_name(v, "pipeline_name")),
    ] = Field(
        default=None,
        description="The pipeline in the worker's catalog (default: the service's name); the "
        "worker loads it (environment, run command, smoke checks, metrics) and records its "
        "sha256.",
    )
    pipeline: PipelineSpec | None = Field(
        default=None,
        description="An inline pipeline: accepted only by development workers "
        "(ROLLWAY_DEV_INLINE_PIPELINES=1, `rollway up`).",
    )
    by: Person = Field(description="Who asks (audited; a release manager to force).")
    signed: SignedDecision | None = Field(
        default=None,
        description="The decision signed by `by` (`rollway sign rollback <workflow id> "
        "--comment <reason>`); needed where the environment refuses unsigned decisions.",
    )
    reason: Text = ""
    force: bool = Field(
        default=False,
        description="Allow a target that never passed a canary; only a member of "
        "'release-manager' in the groups file may, and it is audited.",
    )
    lock_timeout: timedelta = Field(
        default=timedelta(0),
        ge=timedelta(0),
        le=timedelta(hours=24),
        description="How long to wait for the environment lock if a promotion holds it "
        "(0: refuse at once, naming the holder).",
    )
    verify_attempts: int = Field(
        default=3,
        ge=1,
        le=20,
        description="Metric analyses after the switch until one passes (spaced by the "
        "pipeline's analysis interval); a failing one fails the rollback.",
    )
    release_control: str | None = Field(
        default=None,
        description="Release-control workflow id; default `release-control-<environment>`.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> RollbackInput:
        if len(self.services) > MAX_SERVICES:
            raise ValueError(
                f"services: {len(self.services)} given; one service per rollback today "
                "(start one rollback per service)"
            )
        if self.previous and self.to_version is not None:
            raise ValueError("give either to_version or previous, not both")
        if self.pipeline is not None and self.pipeline_name is not None:
            raise ValueError("give pipeline_name (the worker's catalog) or pipeline, not both")
        if self.pipeline is None:
            return self  # the worker loads and checks it (`load_pipeline`)
        if self.pipeline.service not in self.services:
            raise ValueError(
                f"pipeline: it is {self.pipeline.service}'s pipeline, not one of "
                f"{', '.join(self.services)}'s"
            )
        if self.environment not in self.pipeline.environments:
            known = ", ".join(self.pipeline.environments)
            raise ValueError(
                f"environment '{self.environment}' is not in the pipeline (known: {known})"
            )
        return self

    @property
    def service(self) -> str:
        return self.services[0]


class VerifiedRelease(BaseModel):
    """A release as a finished promotion left it: what ran, and whether its canary passed."""

    version: str
    commit: str
    artifact: str | None = None
    environment: str
    workflow_id: str
    finished_at: datetime | None = None
    canary_passed: bool = Field(
        description="Promoted after every canary step with a passing analysis at the last."
    )
    how: str = Field(default="", description="Why it counts (or not) as verified.")


class FindReleasesInput(BaseModel):
    service: str
    environment: str
    limit: int = Field(default=50, ge=1, le=500, description="Newest promotions looked at.")


class ReleaseHistory(BaseModel):
    """Promoted releases of a service in an environment, newest first (one per version)."""

    releases: list[VerifiedRelease] = Field(default_factory=list)
    scanned: int = 0


TargetChoice = Literal["chosen", "previous"]


class TargetPick(BaseModel):
    """The release the rollback goes to, or why there is none."""

    release: VerifiedRelease | None = None
    refusal: str | None = None
    needs_force: bool = False


def pick_target(history: ReleaseHistory, current: str | None, to_version: str | None) -> TargetPick:
    """The target among `history` (newest first), given what serves now (`current`).

    `to_version`: that release, refused when it never passed a canary (a release
    manager may force it). None: the newest verified release promoted before the
    current one, so two rollbacks in a row step further back, never forward.
    """
    releases = history.releases
    if to_version is not None:
        found = next((r for r in releases if r.version == to_version), None)
        if found is None:
            known = ", ".join(r.version for r in releases[:10]) or "none"
            return TargetPick(
                refusal=f"{to_version} was never promoted here (promoted releases, newest "
                f"first: {known})"
            )
        if not found.canary_passed:
            return TargetPick(
                release=found,
                needs_force=True,
                refusal=f"{to_version} never passed a canary ({found.how})",
            )
        return TargetPick(release=found)
    older = releases
    if current is not None:
        index = next((i for i, r in enumerate(releases) if r.version == current), None)
        older = releases[index + 1 :] if index is not None else releases
    older = [r for r in older if r.version != current]
    verified = next((r for r in older if r.canary_passed), None)
    if verified is not None:
        return TargetPick(release=verified)
    if older:
        newest = older[0]
        return TargetPick(
            release=newest,
            needs_force=True,
            refusal=f"no earlier release passed a canary; the previous one, "
            f"{newest.version}, did not ({newest.how})",
        )
    return TargetPick(refusal=f"nothing to roll back to: no release before {current} here")


class RollbackState(PromotionState):
    """The `state` query: a `PromotionState` (so `rollway status` reads it) plus the rollback's own."""

    kind: Literal["rollback"] = "rollback"
    environment: str = "production"
    from_version: str | None = Field(default=None, description="What served before.")
    target: VerifiedRelease | None = None
    forced: bool = False
    requested_by: str = ""
    traffic_moved_at: datetime | None = Field(
        default=None, description="When the target took 100 % of traffic."
    )
    warm: bool | None = Field(
        default=None, description="The target's process still ran (no start needed)."
    )
    verification: Literal["pending", "passed", "failed", "inconclusive", "skipped"] = "pending"


class RollbackResult(BaseModel):
    outcome: str
    reason: str = ""
    version: str | None = None
    state: RollbackState


__all__ = [
    "ID_PREFIX",
    "RELEASE_MANAGER",
    "FindReleasesInput",
    "ReleaseHistory",
    "RollbackInput",
    "RollbackResult",
    "RollbackState",
    "TargetPick",
    "VerifiedRelease",
    "pick_target",
]
