"""The pipeline spec: one YAML document per service, validated by these models.

A spec lists the stages of a promotion in the order they run:
build -> scan -> staging -> approval -> release gate -> canary -> promotion.
A stage left out is skipped. `rollway validate FILE` checks a file and
`rollway schema` prints the JSON Schema for editors.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from rollway.durations import Duration, at_most
from rollway.incidents.spec import IncidentsSpec
from rollway.metrics.spec import AnalysisSpec
from rollway.monitor.spec import MonitorSpec
from rollway.notify.spec import NotificationTarget, check_targets
from rollway.platform.kubernetes.config import KubernetesPlatformConfig
from rollway.policy import ApprovalPolicy, ReleasePolicy
from rollway.providers.aws.config import (
    AuditArchiveConfig,
    CodeBuildConfig,
    EcrImageConfig,
    EcrScanConfig,
    S3SarifConfig,
)
from rollway.scan.policy import ScanPolicy

NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,50}[a-z0-9])?$")
COMMIT_RE = re.compile(r"^[0-9a-f]{7,40}$")


MAX_SOAK = timedelta(days=30)
"""The longest one canary step may soak."""


class SpecModel(BaseModel):
    """Base for spec models: unknown keys are errors (a typo must not be ignored)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def kind_of(default: str) -> Any:
    """A discriminator on `kind` that falls back to `default` when `kind` is omitted."""

    def pick(v: Any) -> str:
        if isinstance(v, dict):
            return str(v.get("kind", default))
        return str(getattr(v, "kind", default))

    return Discriminator(pick)


def _sub(path: str, message: str) -> ValueError:
    """A validation error about a nested path, e.g. `_sub('[2].weight', 'must be …')`."""
    return ValueError(f"@{path}: {message}")


# --- how the service runs (local platform) -------------------------------------------


class RunSpec(SpecModel):
    """How the local platform starts one version of the service as an OS process."""

    command: list[str] = Field(
        min_length=1,
        description="argv; `{artifact}`, `{port}`, `{version}`, `{python}` (the worker's "
        "interpreter) are replaced. PORT and VERSION are also set in the environment.",
    )
    health_path: str = Field(
        default="/healthz", description="GET path that answers 200 when ready."
    )
    ready_timeout: Duration = Field(default=timedelta(seconds=30))
    env: dict[str, str] = Field(default_factory=dict)


# --- platforms ---------------------------------------------------------------------


class LocalPlatformConfig(SpecModel):
    """Real OS processes behind HAProxy on this machine (the embedded default)."""

    kind: Literal["local"] = "local"
    drain: Duration = Field(
        default=timedelta(seconds=2),
        description="How long a retired version keeps serving in-flight requests.",
    )


PlatformConfig = Annotated[
    Annotated[LocalPlatformConfig, Tag("local")]
    | Annotated[KubernetesPlatformConfig, Tag("kubernetes")],
    kind_of("local"),
]


class EnvironmentSpec(SpecModel):
    """Where an environment runs, and the release policy that guards it."""

    platform: PlatformConfig = Field(default_factory=LocalPlatformConfig)
    policy: ReleasePolicy | None = Field(
        default=None,
        description="Deploy windows, freezes, approvals, hotfix and emergency paths "
        "(see docs/release-policy.md).",
    )

    # What the environment is, so the workflow never asks which platform it runs on.

    @property
    def clusters(self) -> list[str | None]:
        """The clusters a canary rolls through, in order (`[None]`: one target)."""
        platform = self.platform
        if isinstance(platform, KubernetesPlatformConfig) and platform.clusters:
            return [c.name for c in platform.clusters]
        return [None]

    @property
    def gitops_sync_timeout(self) -> timedelta | None:
        """How long a GitOps sync (Argo CD) may take; None: Rollway deploys it itself."""
        platform = self.platform
        if isinstance(platform, KubernetesPlatformConfig) and platform.argocd is not None:
            return platform.argocd.timeout
        return None


# --- stages ------------------------------------------------------------------------


class CommandBuild(SpecModel):
    """Run a build command; it writes the artifact (and SARIF reports) to $ARTIFACT_DIR."""

    kind: Literal["command"] = "command"
    command: list[str] = Field(
        min_length=1,
        description="argv, run in `workdir` with COMMIT, VERSION, SERVICE, ARTIFACT_DIR set.",
    )
    workdir: str = Field(default=".", description="Relative to the pipeline file's folder.")
    timeout: Annotated[Duration, at_most(timedelta(hours=24), "build.timeout")] = Field(
        default=timedelta(minutes=30)
    )
    env: dict[str, str] = Field(default_factory=dict)


class NoBuild(SpecModel):
    """CI built the artifact already; the stage only checks it exists."""

    kind: Literal["none"] = "none"
    artifact: str = Field(
        description="Artifact path or image reference; `{commit}` and `{version}` are replaced."
    )


BuildSpec = Annotated[
    Annotated[CommandBuild, Tag("command")]
    | Annotated[NoBuild, Tag("none")]
    | Annotated[CodeBuildConfig, Tag("codebuild")],
    kind_of("command"),
]


class SarifScan(SpecModel):
    """Judge SARIF reports the build wrote (bandit, Semgrep, Trivy, CodeQL, gitleaks)."""

    kind: Literal["sarif"] = "sarif"
    reports: list[str] = Field(
        min_length=1, description="Paths relative to the artifact directory."
    )
    policy: ScanPolicy = Field(
        default_factory=ScanPolicy,
        description="What blocks: critical by default; highs get a due date; secrets always block.",
    )


class EcrScan(EcrScanConfig):
    """ECR image scan findings (basic or enhanced) of the promoted image."""

    policy: ScanPolicy = Field(default_factory=ScanPolicy)


class S3SarifScan(S3SarifConfig):
    """SARIF reports CI uploaded to S3 (Semgrep, Trivy, CodeQL, gitleaks)."""

    policy: ScanPolicy = Field(default_factory=ScanPolicy)


ScanSpec = Annotated[
    Annotated[SarifScan, Tag("sarif")]
    | Annotated[EcrScan, Tag("ecr")]
    | Annotated[S3SarifScan, Tag("s3-sarif")],
    kind_of("sarif"),
]


class SmokeCheck(SpecModel):
    """One HTTP request the new version must answer correctly."""

    path: str = "/"
    method: Literal["GET", "HEAD", "POST"] = "GET"
    expect_status: int = Field(default=200, ge=100, le=599)
    contains: str | None = Field(default=None, description="Text the body must contain.")
    timeout: Duration = Field(default=timedelta(seconds=5))

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        if not v.startswith("/"):
            raise ValueError(f"must start with '/', e.g. '/{v}'")
        return v


class StagingSpec(SpecModel):
    """Deploy to a pre-production environment and run smoke checks there."""

    environment: str = "staging"
    smoke: list[SmokeCheck] = Field(default_factory=lambda: [SmokeCheck(path="/healthz")])
    retries: int = Field(default=3, ge=0, le=20, description="Attempts per smoke check.")


class CanaryStep(SpecModel):
    """Send `weight` percent of traffic to the canary, then soak for `soak`."""

    weight: int = Field(ge=1, le=100)
    soak: Annotated[Duration, at_most(MAX_SOAK, "soak")] = Field(default=timedelta(0))


class CanarySpec(SpecModel):
    """The production ramp."""

    environment: str = "production"
    steps: list[CanaryStep] = Field(min_length=1)
    analysis: AnalysisSpec = Field(default_factory=AnalysisSpec)

    @field_validator("steps")
    @classmethod
    def _increasing(cls, steps: list[CanaryStep]) -> list[CanaryStep]:
        for i in range(1, len(steps)):
            if steps[i].weight <= steps[i - 1].weight:
                raise _sub(
                    f"[{i}].weight",
                    f"must be greater than the previous step ({steps[i - 1].weight})",
                )
        return steps


def _percent(v: Any) -> Any:
    """`5%` or `5` (percent) to 5.0; anything else is left to the number validator."""
    if isinstance(v, str) and v.strip().endswith("%"):
        return v.strip()[:-1].strip()
    return v


Percent = Annotated[float, BeforeValidator(_percent), Field(ge=0, le=100)]
"""A percentage: `5%` or `5`."""


class DoraTargets(SpecModel):
    """The team's DORA targets; `rollway dora` marks each met or missed (seed 001: MTTR < 15m,
    change failure rate < 5 %)."""

    deployments_per_day: float | None = Field(
        default=None, gt=0, description="Met when at least this many successful deployments a day."
    )
    lead_time: Duration | None = Field(
        default=None, description="Met when the median commit-to-100 % time is below this."
    )
    change_failure_rate: Percent | None = Field(
        default=None, description="Met when below this share of deployments failed, e.g. `5%`."
    )
    time_to_restore: Duration | None = Field(
        default=None,
        description="Met when the mean time from a failed deployment to the next successful "
        "one is below this, e.g. `15m`.",
    )


class DoraSpec(SpecModel):
    """Delivery metrics (`rollway dora`, the worker's `rollway_dora_*` metrics)."""

    targets: DoraTargets = Field(default_factory=DoraTargets)


class PipelineSpec(SpecModel):
    """A service's whole promotion pipeline."""

    service: str = Field(description="Lowercase letters, digits and '-'.")
    description: str = ""
    run: RunSpec | None = Field(
        default=None, description="How to start the service (needed by the local platform)."
    )
    environments: dict[str, EnvironmentSpec] = Field(
        default_factory=lambda: {"staging": EnvironmentSpec(), "production": EnvironmentSpec()}
    )
    build: BuildSpec | None = None
    image: EcrImageConfig | None = Field(
        default=None,
        description="Resolve the image tagged with the commit in ECR and carry its digest "
        "(`repo@sha256:…`) through every later stage.",
    )
    scan: ScanSpec | None = None
    staging: StagingSpec | None = None
    approval: ApprovalPolicy | None = Field(
        default=None,
        description="The human gate before production; an environment's `policy.approvals` "
        "overrides it.",
    )
    owners: list[str] = Field(
        default_factory=list,
        description="Groups (of the worker's groups file) whose members own the service: "
        "they may roll back, abort, pause and resume its promotions (see docs/security.md).",
    )
    lock: Literal["supersede", "queue"] = Field(
        default="supersede",
        description="A newer commit supersedes one still awaiting approval, or queues behind it.",
    )
    canary: CanarySpec
    audit: AuditArchiveConfig | None = Field(
        default=None, description="Archive each finished promotion's record to S3."
    )
    incidents: IncidentsSpec | None = Field(
        default=None,
        description="Open an incident (GitHub issue, PagerDuty alert) when a promotion "
        "rolls back or fails.",
    )
    monitor: MonitorSpec | None = Field(
        default=None,
        description="Health checks on a schedule (`rollway monitor install`); a failure "
        "declares an incident and opens the pipeline's incidents.",
    )
    dora: DoraSpec | None = Field(
        default=None, description="DORA targets the `rollway dora` report marks met or missed."
    )
    notifications: list[NotificationTarget] = Field(
        default_factory=list,
        description="Where the promotion's events go: Slack channels, JSON webhooks "
        "(see docs/notifications.md). Secrets are named, never written here.",
    )

    @field_validator("service")
    @classmethod
    def _service(cls, v: str) -> str:
        if not NAME_RE.match(v):
            raise ValueError(
                f"'{v}' is not a valid service name: use lowercase letters, digits and '-', "
                "starting and ending with a letter or digit (e.g. 'orders-api')"
            )
        return v

    @field_validator("notifications")
    @classmethod
    def _notifications(cls, v: list[NotificationTarget]) -> list[NotificationTarget]:
        return check_targets(v)

    @field_validator("environments")
    @classmethod
    def _environment_names(cls, v: dict[str, EnvironmentSpec]) -> dict[str, EnvironmentSpec]:
        for name in v:  # names reach HAProxy config, workflow ids and metric labels
            if not NAME_RE.match(name):
                raise _sub(
                    name,
                    f"'{name[:64]}' is not a valid environment name: use lowercase letters, "
                    "digits and '-' (e.g. 'staging')",
                )
        return v

    @model_validator(mode="after")
    def _references(self) -> PipelineSpec:
        for where, env in (
            ("staging.environment", self.staging.environment if self.staging else None),
            ("canary.environment", self.canary.environment),
        ):
            if env is not None and env not in self.environments:
                known = ", ".join(sorted(self.environments)) or "none"
                raise _sub(
                    where, f"environment '{env}' is not declared in 'environments' ({known})"
                )
        production = self.environments[self.canary.environment].platform
        if isinstance(production, KubernetesPlatformConfig):
            partial = [s.weight for s in self.canary.steps if s.weight < 100]
            if partial and not production.supports_partial_weights:
                raise _sub(
                    "canary.steps",
                    f"the {production.strategy} strategy moves all traffic at once; "
                    f"weights {partial} cannot be honoured: use steps: [{{weight: 100, soak: …}}]",
                )
        uses_local = any(e.platform.kind == "local" for e in self.environments.values())
        if uses_local and self.run is None:
            raise _sub("run", "the local platform needs 'run.command' to start the service")
        return self

    def environment(self, name: str) -> EnvironmentSpec:
        return self.environments[name]
