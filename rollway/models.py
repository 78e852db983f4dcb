"""Typed payloads that cross Temporal boundaries.

Workflow input, signal/update arguments and the `state` query result are
pydantic models carried by `temporalio.contrib.pydantic`, so
`temporal workflow query --name state` prints exactly these fields.
One `XxxInput` model per call lets a signature grow without breaking histories.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, Field, model_validator

from rollway.fields import Person, Text
from rollway.metrics.results import (
    AnalysisInput,
    AnalysisResult,
    AnalysisSegment,
    MetricResult,
)
from rollway.metrics.spec import MetricCheck
from rollway.platform.base import Target
from rollway.providers.aws.config import AuditArchiveConfig, EcrImageConfig
from rollway.release_control import AuditEntry
from rollway.scan import ScanVerdict
from rollway.security.decisions import SignedDecision
from rollway.security.inputs import check_commit, check_name, check_version
from rollway.spec import (
    BuildSpec,
    EnvironmentSpec,
    PipelineSpec,
    RunSpec,
    ScanSpec,
    SmokeCheck,
)
from rollway.spec_catalog import check_pipeline_name


class Stage(StrEnum):
    """Where a promotion stands, in pipeline order."""

    PENDING = "pending"
    BUILD = "build"
    SCAN = "scan"
    CHECKS = "checks"
    STAGING = "staging"
    APPROVAL = "approval"
    GATE = "gate"
    MIGRATE = "migrate"
    CANARY = "canary"
    PROMOTING = "promoting"
    ROLLING_BACK = "rolling_back"
    ROLLBACK_STUCK = "rollback_stuck"
    DONE = "done"


class Outcome(StrEnum):
    """How a promotion ended (`running` while it has not)."""

    RUNNING = "running"
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled_back"
    REJECTED = "rejected"
    FAILED = "failed"
    ABORTED = "aborted"
    SUPERSEDED = "superseded"


# --- workflow input and human inputs ------------------------------------------------


def _checked(check: Callable[[str, str], str], field: str) -> AfterValidator:
    return AfterValidator(lambda v: check(v, field))


def _optional(check: Callable[[str, str], str], field: str) -> AfterValidator:
    return AfterValidator(lambda v: None if v is None else check(v, field))


class PromotionInput(BaseModel):
    """Start a promotion of `version` (built from `commit`) of `service`.

    Each value is checked where it enters (it names artifact folders, workflow ids,
    HAProxy servers and metric labels): a path or a query cannot hide in one.
    The pipeline is a NAME in the worker's catalog (default: the service's name);
    an inline `pipeline` spec runs only on a development worker (docs/catalog.md).
    """

    service: Annotated[str, _checked(check_name, "service")]
    version: Annotated[str, _checked(check_version, "version")]
    commit: Annotated[str, _checked(check_commit, "commit")]
    pipeline_name: Annotated[str | None, _optional(check_pipeline_name, "pipeline_name")] = Field(
        default=None,
        description="The pipeline in the worker's catalog, e.g. 'demo'; default the service.",
    )
    pipeline: PipelineSpec | None = Field(
        default=None,
        description="An inline spec: development workers only (and histories before the catalog).",
    )
    pipeline_dir: str = Field(
        default=".", description="Inline specs only: folder of the pipeline file."
    )
    requested_by: str = "ci"
    author: str | None = Field(
        default=None, description="The commit's author: may not approve unless allowed."
    )
    hotfix: bool = Field(default=False, description="Take the policy's hotfix path.")
    release_control: str | None = Field(
        default=None,
        description="Release-control workflow id; default `release-control-<environment>`.",
    )
    commit_time: AwareDatetime | None = Field(
        default=None,
        description="When the commit was made, with its zone (CI passes it, e.g. "
        "`git show -s --format=%cI`): DORA lead time runs from here to 100 %.",
    )

    @model_validator(mode="after")
    def _one_pipeline(self) -> PromotionInput:
        if self.pipeline is not None and self.pipeline_name is not None:
            raise ValueError(
                "give pipeline_name (from the worker's catalog) or an inline pipeline, not both"
            )
        return self


class ApprovalInput(BaseModel):
    """`approve` / `reject` signal and update argument: `{"by": "alice", "comment": "…"}`."""

    by: Person
    comment: Text = ""
    signed: SignedDecision | None = Field(
        default=None,
        description="The same decision signed by `by` (`rollway sign approve|reject …`): "
        "its comment must equal `comment`.",
    )


class ActionInput(BaseModel):
    """`abort`, `rollback`, `pause`, `resume` argument: `{"by": "bob", "reason": "…"}`."""

    by: Person = "unknown"
    reason: Text = ""
    signed: SignedDecision | None = Field(
        default=None,
        description="The same decision signed by `by` (`rollway sign rollback …`): its "
        "comment must equal `reason`.",
    )


# --- state (the `state` query) ---------------------------------------------------------


class TimelineEntry(BaseModel):
    at: datetime
    stage: Stage
    message: str
    by: str | None = None


class ApprovalRecord(BaseModel):
    by: str
    at: datetime
    decision: Literal["approve", "reject"]
    comment: str = ""


class CanaryState(BaseModel):
    environment: str
    steps: list[int]
    step: int = Field(default=-1, description="Index of the current step; -1 before the first.")
    weight: int = 0
    paused: bool = False
    consecutive_failures: int = 0
    consecutive_inconclusive: int = 0
    analyses: list[AnalysisResult] = Field(
        default_factory=list, description="The most recent analyses, newest last (at most 20)."
    )


class GateState(BaseModel):
    """The release gate (windows, freezes, incidents, extra approvals) as last evaluated."""

    open: bool
    path: str = "normal"
    reasons: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    wait_until: datetime | None = None
    approvals_needed: list[str] = Field(default_factory=list)


class PromotionState(BaseModel):
    """Everything `rollway status` shows; returned by the `state` query."""

    service: str
    version: str
    commit: str
    stage: Stage = Stage.PENDING
    outcome: Outcome = Outcome.RUNNING
    reason: str = ""
    pipeline: str = Field(default="", description="The pipeline's catalog name ('' inline).")
    pipeline_digest: str | None = Field(
        default=None, description="sha256 of the pipeline the worker loaded (None: not yet)."
    )
    pipeline_source: str = Field(
        default="",
        description="Where the worker loaded it: its catalog and file, or "
        "'inline pipeline (development worker)'.",
    )
    started_at: datetime | None = None
    finished_at: datetime | None = None
    artifact: str | None = None
    stable_version: str | None = None
    scan: ScanVerdict | None = None
    approvals_required: int = 0
    approvals: list[ApprovalRecord] = Field(default_factory=list)
    canary: CanaryState | None = None
    waves: list[WaveState] = Field(
        default_factory=list, description="Per-cluster progress (multi-cluster environments)."
    )
    gate: GateState | None = None
    lock: str = Field(default="", description="The production lock: granted, queued behind …")
    staging_lock: str = Field(default="", description="The staging lock: granted, queued behind …")
    superseded_by: str | None = None
    supersedes: list[str] = Field(default_factory=list)
    halted_by: str | None = Field(default=None, description="The incident holding the canary.")
    audit: list[AuditEntry] = Field(default_factory=list)
    unsigned_decisions: dict[str, Literal["accepted", "refused"]] = Field(
        default_factory=dict,
        description="Per environment of this promotion: whether decisions without a "
        "signature are accepted (empty: a promotion from before signed decisions).",
    )
    rollback_metrics: list[MetricResult] = Field(
        default_factory=list, description="The metric values that caused an automatic rollback."
    )
    rollback_error: str | None = Field(
        default=None, description="While a rollback keeps failing: its last error."
    )
    traffic: dict[str, dict[str, int]] = Field(
        default_factory=dict,
        description="What the platform last said serves each target: version -> weight (%), "
        "read again after any abort or failure.",
    )
    timeline: list[TimelineEntry] = Field(
        default_factory=list,
        description="What happened, oldest first; at most 300 (the first and the newest).",
    )
    timeline_dropped: int = Field(default=0, description="Entries dropped to keep it bounded.")


class PromotionResult(BaseModel):
    """What the workflow returns: the outcome, and the final state for the record."""

    outcome: Outcome
    reason: str = ""
    version: str
    stable_version: str | None = None
    state: PromotionState | None = None


# --- activity inputs and results ----------------------------------------------------


class BuildInput(BaseModel):
    service: str
    version: str
    commit: str
    build: BuildSpec
    pipeline_dir: str


class LoadPipelineInput(BaseModel):
    """Load the pipeline `name` (default `service`) from the worker's catalog, or vouch for
    an inline spec (development workers only)."""

    service: str
    name: str | None = None
    inline: PipelineSpec | None = None


class LoadedPipeline(BaseModel):
    """The spec the worker vouches for, its sha256 and where it came from."""

    spec: PipelineSpec
    digest: str = Field(description="sha256:… of the catalog file (inline: of the spec's JSON).")
    source: str
    pipeline_dir: str = Field(description="The file's folder on the worker (build workdir base).")
    inline: bool = False


class BuildResult(BaseModel):
    artifact: str
    reused: bool = False
    log_tail: str = ""


class ScanInput(BaseModel):
    artifact: str
    scan: ScanSpec
    now: datetime = Field(description="The workflow's time: due dates and exception expiry.")


class PlatformInput(BaseModel):
    """Which platform to act on: a target and its environment's platform config."""

    target: Target
    environment: EnvironmentSpec
    run: RunSpec | None = None


class DeployInput(PlatformInput):
    version: str
    artifact: str
    commit: str = ""


class UndoInput(PlatformInput):
    """Return stable to its previous version (or `to_version`), as `rollout undo` does."""

    to_version: str | None = None


class ArgoSyncInput(PlatformInput):
    """Sync the environment's Argo CD Application to `revision` and wait until healthy."""

    revision: str


class WaveState(BaseModel):
    """One cluster of a multi-cluster environment, rolled in declared order."""

    cluster: str
    status: Literal["pending", "canary", "promoted", "rolled_back", "undone"] = "pending"
    version: str | None = None
    weight: int = 0


class WaitReadyInput(PlatformInput):
    version: str
    timeout_s: float = 60.0


class WeightInput(PlatformInput):
    weight: int


class SmokeInput(BaseModel):
    base_url: str
    checks: list[SmokeCheck]
    retries: int = 3


class SmokeResult(BaseModel):
    passed: bool
    results: list[str]


class ResolveImageInput(BaseModel):
    """Find the image tagged with `commit` and pin it by digest."""

    service: str
    commit: str
    image: EcrImageConfig


class ArchiveInput(BaseModel):
    """Write a finished promotion's record to the audit archive (idempotent)."""

    service: str
    workflow_id: str
    finished_at: datetime = Field(description="The workflow's time: it fixes the S3 key's date.")
    record: dict[str, object]
    audit: AuditArchiveConfig


# --- results of platform and provider activities (no client library here) -------------


class ArgoCDSyncResult(BaseModel):
    """Where the Application ended up."""

    application: str
    namespace: str
    revision: str
    synced_revision: str = ""
    sync_status: str = ""
    health_status: str = ""
    phase: str = ""
    message: str = ""


class ImageRef(BaseModel):
    """An image pinned by digest."""

    registry_id: str
    repository: str
    repository_uri: str
    tag: str
    digest: str = Field(description="sha256:...")
    reference: str = Field(description="repository_uri@sha256:..., what platforms deploy.")
    pushed_at: datetime | None = None
    size_bytes: int | None = None


class AuditRecordRef(BaseModel):
    """Where the record is and whether this call wrote it."""

    bucket: str
    key: str
    uri: str
    sha256: str
    written: bool
    sse: Literal["AES256", "aws:kms"]
    kms_key_id: str | None = None
    version_id: str | None = None


__all__ = [
    "ActionInput",
    "AnalysisInput",
    "AnalysisResult",
    "AnalysisSegment",
    "ApprovalInput",
    "ApprovalRecord",
    "ArchiveInput",
    "ArgoCDSyncResult",
    "ArgoSyncInput",
    "AuditEntry",
    "AuditRecordRef",
    "BuildInput",
    "BuildResult",
    "CanaryState",
    "DeployInput",
    "GateState",
    "ImageRef",
    "LoadPipelineInput",
    "LoadedPipeline",
    "MetricCheck",
    "MetricResult",
    "Outcome",
    "PlatformInput",
    "PromotionInput",
    "PromotionResult",
    "PromotionState",
    "ResolveImageInput",
    "ScanInput",
    "ScanVerdict",
    "SmokeInput",
    "SmokeResult",
    "Stage",
    "TimelineEntry",
    "UndoInput",
    "WaitReadyInput",
    "WaveState",
    "WeightInput",
]

PromotionState.model_rebuild()
PromotionResult.model_rebuild()
