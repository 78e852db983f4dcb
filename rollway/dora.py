"""DORA's four keys from finished promotions, per service and environment (pure: no I/O).

`rollway/dora_history.py` reads the records from Temporal; this module only counts.

* **deployment frequency**: successful deployments (reached 100 %, not rolled back
  later) per day of the window;
* **lead time**: commit time (passed in by CI) to 100 %, median over the promotions
  that reached 100 %;
* **change failure rate**: failed deployments / deployments. A deployment is a
  promotion that changed production: it reached 100 %, or its canary was deployed
  and then rolled back or failed. Failed: rolled back during the canary (or the bake),
  failed in production, or rolled back later by a rollback (`LaterRollback`);
* **time to restore**: from the first failure of a service in an environment to the
  next restore there: its next successful deployment, or a later rollback that put a
  verified release back. A failure not restored yet is reported as `unrestored_since`.

Promotions that never touched production (rejected, superseded, failed in staging,
already stable) are not deployments; they are counted in `ignored`.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field

from rollway.spec import DoraTargets

Kind = Literal["success", "failure"]
ALL = "*"
"""The service and environment of the overall figures."""


class Deployment(BaseModel):
    """One finished promotion, as DORA sees it."""

    workflow_id: str
    run_id: str = ""
    service: str
    environment: str
    version: str = ""
    outcome: str = Field(description="promoted, rolled_back, failed, rejected, ...")
    finished_at: AwareDatetime
    commit_time: AwareDatetime | None = None
    reached_production: bool = Field(
        description="The canary was deployed in production (or the version reached 100 %)."
    )
    rolled_back_later: bool = Field(
        default=False, description="Promoted, then rolled back by a later rollback."
    )


class LaterRollback(BaseModel):
    """A rollback after promotion (the hook for `RollbackWorkflow` records).

    It marks the newest successful deployment of `service` in `environment` before
    `at` (of `from_version`, when given) as failed; when `restored`, `at` also ends
    the time to restore.
    """

    service: str
    environment: str
    at: AwareDatetime
    from_version: str | None = None
    restored: bool = True


class TargetCheck(BaseModel):
    metric: str
    comparison: Literal["below", "at least"]
    target: float
    value: float | None
    status: Literal["met", "missed", "no data"]


class GroupMetrics(BaseModel):
    """The four keys of one service in one environment (or overall: `*`)."""

    service: str
    environment: str
    deployments: int
    successful: int
    failed: int
    deployments_per_day: float
    lead_time_median_s: float | None = None
    lead_time_samples: int = 0
    lead_time_skipped: int = Field(
        default=0, description="Commit time after the promotion finished: left out."
    )
    change_failure_rate: float | None = Field(default=None, description="0..1")
    time_to_restore_mean_s: float | None = None
    time_to_restore_median_s: float | None = None
    restores: int = 0
    unrestored_since: AwareDatetime | None = None
    targets: list[TargetCheck] = Field(default_factory=list)


class DoraReport(BaseModel):
    since: AwareDatetime
    until: AwareDatetime
    window_days: float
    groups: list[GroupMetrics]
    overall: GroupMetrics
    ignored: dict[str, int] = Field(
        default_factory=dict, description="Promotions that were not deployments, by outcome."
    )
    truncated: bool = Field(
        default=False, description="More promotions matched than were read (the oldest left out)."
    )


def kind(d: Deployment) -> Kind | None:
    """`success`, `failure`, or None when the promotion never changed production."""
    if not d.reached_production:
        return None
    if d.outcome == "promoted" and not d.rolled_back_later:
        return "success"
    return "failure"


def apply_rollbacks(
    deployments: Sequence[Deployment], rollbacks: Iterable[LaterRollback]
) -> list[Deployment]:
    """Copies of `deployments` with the releases later rollbacks undid marked failed."""
    out = [d.model_copy() for d in deployments]
    for rb in sorted(rollbacks, key=lambda r: r.at):
        candidates = [
            d
            for d in out
            if d.service == rb.service
            and d.environment == rb.environment
            and kind(d) == "success"
            and d.finished_at <= rb.at
            and (rb.from_version is None or d.version == rb.from_version)
        ]
        if candidates:
            max(candidates, key=lambda d: d.finished_at).rolled_back_later = True
    return out


def restore_times(
    deployments: Sequence[Deployment], rollbacks: Sequence[LaterRollback] = ()
) -> tuple[list[timedelta], datetime | None]:
    """One service in one environment: each failure-to-restore interval, and the start of
    a failure not restored yet. Consecutive failures make one interval from the first."""
    events: list[tuple[datetime, int, str]] = []  # (at, order, what): restores sort first
    for d in deployments:
        k = kind(d)
        if k == "failure":
            events.append((d.finished_at, 1, "fail"))
        elif k == "success":
            events.append((d.finished_at, 0, "restore"))
    events += [(rb.at, 0, "restore") for rb in rollbacks if rb.restored]
    durations: list[timedelta] = []
    open_since: datetime | None = None
    for at, _, what in sorted(events):
        if what == "fail" and open_since is None:
            open_since = at
        elif what == "restore" and open_since is not None:
            durations.append(at - open_since)
            open_since = None
    return durations, open_since


def _median_s(values: Sequence[timedelta]) -> float | None:
    return statistics.median(v.total_seconds() for v in values) if values else None


def _group(
    service: str,
    environment: str,
    deployments: Sequence[Deployment],
    window_days: float,
    restores: Sequence[timedelta],
    unrestored_since: datetime | None,
) -> GroupMetrics:
    kinds = [kind(d) for d in deployments]
    successful = kinds.count("success")
    failed = kinds.count("failure")
    total = successful + failed
    leads = [
        d.finished_at - d.commit_time
        for d in deployments
        if d.outcome == "promoted" and d.reached_production and d.commit_time is not None
    ]
    good_leads = [lead for lead in leads if lead >= timedelta(0)]
    return GroupMetrics(
        service=service,
        environment=environment,
        deployments=total,
        successful=successful,
        failed=failed,
        deployments_per_day=successful / window_days if window_days > 0 else 0.0,
        lead_time_median_s=_median_s(good_leads),
        lead_time_samples=len(good_leads),
        lead_time_skipped=len(leads) - len(good_leads),
        change_failure_rate=failed / total if total else None,
        time_to_restore_mean_s=(
            statistics.fmean(r.total_seconds() for r in restores) if restores else None
        ),
        time_to_restore_median_s=_median_s(restores),
        restores=len(restores),
        unrestored_since=unrestored_since,
    )


def check_targets(m: GroupMetrics, t: DoraTargets) -> list[TargetCheck]:
    """Each target the pipeline sets, met or missed (or no data to tell)."""
    checks: list[TargetCheck] = []

    def below(metric: str, target: float | None, value: float | None) -> None:
        if target is not None:
            status = "no data" if value is None else ("met" if value < target else "missed")
            checks.append(
                TargetCheck(
                    metric=metric, comparison="below", target=target, value=value, status=status
                )
            )

    if t.deployments_per_day is not None:
        ok = m.deployments_per_day >= t.deployments_per_day
        checks.append(
            TargetCheck(
                metric="deployments_per_day",
                comparison="at least",
                target=t.deployments_per_day,
                value=m.deployments_per_day,
                status="met" if ok else "missed",
            )
        )
    lead = t.lead_time
    below("lead_time_s", lead.total_seconds() if lead else None, m.lead_time_median_s)
    cfr = t.change_failure_rate
    below("change_failure_rate", cfr / 100 if cfr is not None else None, m.change_failure_rate)
    ttr = t.time_to_restore
    below("time_to_restore_s", ttr.total_seconds() if ttr else None, m.time_to_restore_mean_s)
    return checks


def compute(
    deployments: Sequence[Deployment],
    *,
    since: datetime,
    until: datetime,
    rollbacks: Sequence[LaterRollback] = (),
    targets: Mapping[str, DoraTargets] | None = None,
    truncated: bool = False,
) -> DoraReport:
    """The report over promotions that finished in [since, until]; `targets` by service."""
    if since.tzinfo is None or until.tzinfo is None:
        raise ValueError("since and until must carry a time zone")
    window_days = max((until - since).total_seconds(), 0.0) / 86400
    in_window = [d for d in deployments if since <= d.finished_at <= until]
    later = [rb for rb in rollbacks if since <= rb.at <= until]
    marked = apply_rollbacks(in_window, later)
    ignored: dict[str, int] = defaultdict(int)
    by_group: dict[tuple[str, str], list[Deployment]] = defaultdict(list)
    for d in marked:
        if kind(d) is None:
            ignored[d.outcome] += 1
        by_group[(d.service, d.environment)].append(d)
    groups: list[GroupMetrics] = []
    all_restores: list[timedelta] = []
    oldest_open: datetime | None = None
    for (service, env), ds in sorted(by_group.items()):
        rbs = [rb for rb in later if (rb.service, rb.environment) == (service, env)]
        restores, open_since = restore_times(ds, rbs)
        all_restores += restores
        if open_since is not None and (oldest_open is None or open_since < oldest_open):
            oldest_open = open_since
        if all(kind(d) is None for d in ds):
            continue
        m = _group(service, env, ds, window_days, restores, open_since)
        if targets and service in targets:
            m.targets = check_targets(m, targets[service])
        groups.append(m)
    overall = _group(ALL, ALL, marked, window_days, all_restores, oldest_open)
    return DoraReport(
        since=since,
        until=until,
        window_days=window_days,
        groups=groups,
        overall=overall,
        ignored=dict(sorted(ignored.items())),
        truncated=truncated,
    )
