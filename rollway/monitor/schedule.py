"""A monitor's cadence as a Temporal `ScheduleSpec`: often in business hours, less off-hours.

Seed 001: every 5 minutes in business hours, every 15 minutes otherwise, in the
policy's time zone. Business hours are one calendar (minutes every N, hours
start..end-1, the business days); off-hours are the complement: the hours before
and after on business days, and every hour on the other days. The server computes
the times (and daylight saving) from `time_zone_name`.
"""

from __future__ import annotations

from temporalio.client import (
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
)

from rollway.monitor.report import MonitorInput
from rollway.monitor.spec import DAYS, MonitorSpec


def _minutes(every_s: float) -> list[ScheduleRange]:
    step = int(every_s // 60)
    return [ScheduleRange(start=0, end=59, step=step)]


def _days(names: list[str]) -> list[ScheduleRange]:
    return [ScheduleRange(start=DAYS.index(d)) for d in sorted(set(names), key=DAYS.index)]


def schedule_spec(monitor: MonitorSpec) -> ScheduleSpec:
    bh = monitor.business_hours
    business_days = _days(list(bh.days))
    other_days = _days([d for d in DAYS if d not in bh.days])
    on = _minutes(bh.every.total_seconds())
    off = _minutes(monitor.off_hours.every.total_seconds())
    zero = [ScheduleRange(start=0)]
    calendars = [
        ScheduleCalendarSpec(
            second=zero,
            minute=on,
            hour=[ScheduleRange(bh.start, bh.end - 1)],
            day_of_week=business_days,
        )
    ]
    if bh.start > 0:
        calendars.append(
            ScheduleCalendarSpec(
                second=zero,
                minute=off,
                hour=[ScheduleRange(0, bh.start - 1)],
                day_of_week=business_days,
            )
        )
    if bh.end < 24:
        calendars.append(
            ScheduleCalendarSpec(
                second=zero,
                minute=off,
                hour=[ScheduleRange(bh.end, 23)],
                day_of_week=business_days,
            )
        )
    if other_days:
        calendars.append(
            ScheduleCalendarSpec(
                second=zero, minute=off, hour=[ScheduleRange(0, 23)], day_of_week=other_days
            )
        )
    return ScheduleSpec(calendars=calendars, time_zone_name=monitor.timezone)


def schedule_id(service: str, environment: str) -> str:
    return f"monitor-{service}-{environment}"


def monitor_schedule(
    inp: MonitorInput, task_queue: str, spec: ScheduleSpec | None = None
) -> Schedule:
    """The schedule `rollway monitor install` creates: one HealthMonitorWorkflow per tick.

    A run still going when the next is due is not doubled (overlap SKIP); a tick
    missed while the server was down is caught up within one off-hours period.
    """
    env = inp.monitor.environment
    return Schedule(
        action=ScheduleActionStartWorkflow(
            "HealthMonitorWorkflow",
            inp,
            id=f"{schedule_id(inp.service, env)}-run",
            task_queue=task_queue,
        ),
        spec=spec or schedule_spec(inp.monitor),
        policy=SchedulePolicy(
            overlap=ScheduleOverlapPolicy.SKIP,
            catchup_window=inp.monitor.off_hours.every,
        ),
    )
