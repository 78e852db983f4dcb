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
    AfterValidator,
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


# --- parallel checks and their gates (docs/checks.md) ---------------------------


class CheckSuite(SpecModel):
    """One test tier: a command run as its own activity, or reports CI uploaded."""

    name: str = Field(description="Lowercase letters, digits and '-' (e.g. 'unit').")
    command: list[str] | None = Field(
        default=None,
        description="argv run in `workdir` with REPORTS_DIR, ARTIFACT, COMMIT, VERSION, "
        "SERVICE set; it writes its reports to $REPORTS_DIR. Exit code non-zero fails it.",
    )
    reports: str | None = Field(
        default=None,
        description="Instead of `command`: the folder where CI left this tier's reports "
        "(relative to the pipeline file's folder; `{commit}`, `{version}` replaced).",
    )
    workdir: str = Field(default=".", description="Relative to the pipeline file's folder.")
    timeout: Annotated[Duration, at_most(timedelta(hours=24), "checks.timeout")] = Field(
        default=timedelta(minutes=30)
    )
    env: dict[str, str] = Field(default_factory=dict)
    junit: list[str] = Field(
        default_factory=list, description="JUnit XML reports, relative to the reports folder."
    )
    coverage: dict[str, str] = Field(
        default_factory=dict,
        description="Component -> Cobertura XML report (relative to the reports folder).",
    )
    quarantine: list[str] = Field(
        default_factory=list,
        description="Known-flaky tests (`classname::name` or `name`): their failures are "
        "reported, never blocking.",
    )

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME_RE.match(v):
            raise ValueError(f"'{v[:64]}' is not a valid check name (e.g. 'unit', 'e2e')")
        return v

    @model_validator(mode="after")
    def _source(self) -> CheckSuite:
        if (self.command is None) == (self.reports is None):
            raise ValueError(
                f"check '{self.name}': give either 'command' (run it) or 'reports' "
                "(verify what CI uploaded), not both or neither"
            )
        if self.reports is not None and not (self.junit or self.coverage):
            raise ValueError(
                f"check '{self.name}': 'reports' needs 'junit' or 'coverage' files to verify"
            )
        for rel in [*self.junit, *self.coverage.values()]:
            if rel.startswith("/") or ".." in rel.split("/"):
                raise ValueError(
                    f"check '{self.name}': report '{rel}' must be relative to the reports "
                    "folder, without '..'"
                )
        return self


class ChecksSpec(SpecModel):
    """Test tiers run in parallel before staging, gated on their reports."""

    suites: list[CheckSuite] = Field(min_length=1, max_length=20)
    coverage: dict[str, Annotated[float, Field(ge=0, le=100)]] = Field(
        default_factory=dict,
        description="Component -> minimum line coverage in percent (e.g. backend: 85).",
    )

    @model_validator(mode="after")
    def _consistent(self) -> ChecksSpec:
        names = [s.name for s in self.suites]
        for i, name in enumerate(names):
            if names.count(name) > 1:
                raise _sub(f"suites[{i}].name", f"'{name}' is used twice")
        reported = {c for s in self.suites for c in s.coverage}
        for component in self.coverage:
            if component not in reported:
                raise _sub(
                    f"coverage.{component}",
                    f"no suite reports coverage for '{component}': add "
                    f"coverage: {{{component}: coverage.xml}} to the suite that measures it",
                )
        return self


# --- database migrations (docs/migrations.md) ------------------------------------

ENV_VAR_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MIGRATION_FILE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*\.sql$")


def _migration_file(v: str) -> str:
    if not MIGRATION_FILE_RE.match(v):
        raise ValueError(
            f"'{v[:80]}' is not a migration file name: name a `.sql` file of the "
            "migrations folder, e.g. '0004_drop_users_email.sql' (no folders)"
        )
    return v


MigrationFileName = Annotated[str, AfterValidator(_migration_file)]


class ExpandContract(SpecModel):
    """A two-phase schema change: `expand` adds, a later release's `contract` removes."""

    expand: MigrationFileName = Field(description="The additive migration, released first.")
    contract: MigrationFileName = Field(
        description="The destructive migration; allowed only once `expand` is applied in "
        "production."
    )

    @model_validator(mode="after")
    def _order(self) -> ExpandContract:
        if self.contract <= self.expand:
            raise ValueError(
                f"contract '{self.contract}' must sort after its expand '{self.expand}' "
                "(migrations apply in file-name order): number it higher"
            )
        return self


class MigrationsSpec(SpecModel):
    """Forward-only schema migrations, applied to the environment's database before the canary."""

    databases: dict[str, str] = Field(
        min_length=1,
        description="Environment -> the NAME of the worker's environment variable holding "
        "that environment's database URL (a secret: never the URL itself).",
    )
    folder: str | None = Field(
        default="migrations",
        description="Plain `.sql` files applied in file-name order, each once; relative to "
        "the pipeline file's folder. null: only `command`.",
    )
    command: list[str] | None = Field(
        default=None,
        description="argv run after the SQL files with DATABASE_URL set, e.g. "
        "[alembic, upgrade, head]; it must be idempotent itself.",
    )
    preview: list[str] | None = Field(
        default=None,
        description="argv printing the SQL `command` would run (e.g. [alembic, upgrade, "
        "head, --sql]); the guard reads it. Required with `command`.",
    )
    pairs: list[ExpandContract] = Field(
        default_factory=list,
        description="Expand/contract pairs: a destructive statement is allowed only in a "
        "declared contract whose expand is applied in production.",
    )
    table: str = Field(
        default="schema_migrations", description="The ledger table of applied migrations."
    )
    timeout: Annotated[Duration, at_most(timedelta(hours=6), "migrations.timeout")] = Field(
        default=timedelta(minutes=30)
    )
    lock_timeout: Annotated[Duration, at_most(timedelta(minutes=5), "lock_timeout")] = Field(
        default=timedelta(seconds=10),
        description="How long a migration may wait for a table lock before failing (so "
        "it never queues live traffic behind it).",
    )

    @field_validator("databases")
    @classmethod
    def _names_not_urls(cls, v: dict[str, str]) -> dict[str, str]:
        for env, var in v.items():
            if not ENV_VAR_RE.match(var):
                raise _sub(
                    env,
                    "must be the NAME of an environment variable of the worker that holds "
                    "the database URL (e.g. PRODUCTION_DATABASE_URL), never the URL or "
                    "password itself",
                )
        return v

    @field_validator("table")
    @classmethod
    def _table(cls, v: str) -> str:
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", v):
            raise ValueError(f"'{v[:64]}' is not a plain table name (e.g. schema_migrations)")
        return v

    @model_validator(mode="after")
    def _shape(self) -> MigrationsSpec:
        if self.folder is None and self.command is None:
            raise ValueError("give 'folder' (SQL files), 'command' (e.g. alembic), or both")
        if self.command is not None and not self.preview:
            raise _sub(
                "preview",
                "'command' needs 'preview': an argv printing the SQL it will run (e.g. "
                "[alembic, upgrade, head, --sql]) so the guard can refuse destructive "
                "statements",
            )
        contracts = [p.contract for p in self.pairs]
        expands = {p.expand for p in self.pairs}
        for i, pair in enumerate(self.pairs):
            if contracts.count(pair.contract) > 1:
                raise _sub(f"pairs[{i}].contract", f"'{pair.contract}' is declared twice")
            if pair.contract in expands:
                raise _sub(
                    f"pairs[{i}].contract",
                    f"'{pair.contract}' is also an expand phase; a file is one or the other",
                )
        return self


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
    checks: ChecksSpec | None = Field(
        default=None,
        description="Test tiers run in parallel before staging, gated on JUnit and "
        "Cobertura reports (docs/checks.md).",
    )
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
    migrations: MigrationsSpec | None = Field(
        default=None,
        description="Forward-only database migrations with a destructive-statement guard, "
        "run before the canary (docs/migrations.md).",
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
        if self.migrations is not None:
            for env in self.migrations.databases:
                if env not in self.environments:
                    known = ", ".join(sorted(self.environments)) or "none"
                    raise _sub(
                        f"migrations.databases.{env}",
                        f"environment '{env}' is not declared in 'environments' ({known})",
                    )
            if self.canary.environment not in self.migrations.databases:
                raise _sub(
                    "migrations.databases",
                    f"name the variable holding the database URL of '{self.canary.environment}' "
                    "(the canary's environment, where migrations run before the canary), e.g. "
                    f"{{{self.canary.environment}: PRODUCTION_DATABASE_URL}}",
                )
        uses_local = any(e.platform.kind == "local" for e in self.environments.values())
        if uses_local and self.run is None:
            raise _sub("run", "the local platform needs 'run.command' to start the service")
        return self

    def environment(self, name: str) -> EnvironmentSpec:
        return self.environments[name]
