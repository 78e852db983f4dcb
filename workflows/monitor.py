"""HealthMonitorWorkflow: one scheduled run of a pipeline's health checks.

A Temporal Schedule (`rollway monitor install`) starts it at the pipeline's
cadence. Healthy: it returns the report. Failing: it declares the monitor's
incident in the environment's release control (which halts every promotion
there, like any incident) and opens the pipeline's incidents (GitHub,
PagerDuty), each idempotent, so a check that keeps failing every 5 minutes
keeps one incident open, not one per run.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from rollway.incidents.report import IncidentReport, OpenIncidentInput, OpenIncidentResult
    from rollway.monitor.report import (
        CheckResults,
        ChecksInput,
        DeclareMonitorIncident,
        MonitorInput,
        MonitorReport,
    )
    from rollway.release_control import DeclareIncidentInput, control_workflow_id

CHECKS_TIMEOUT = timedelta(minutes=5)
MONITOR = "rollway-monitor"
"""Who the monitor's decisions are recorded as."""


def incident_id(service: str) -> str:
    return f"monitor-{service}"


@workflow.defn(name="HealthMonitorWorkflow")
class HealthMonitorWorkflow:
    def __init__(self) -> None:
        self.report: MonitorReport | None = None

    @workflow.run
    async def run(self, inp: MonitorInput) -> MonitorReport:
        env = inp.monitor.environment
        checked: CheckResults = await workflow.execute_activity(
            "run_health_checks",
            ChecksInput(checks=inp.monitor.checks),
            result_type=CheckResults,
            start_to_close_timeout=CHECKS_TIMEOUT,
            retry_policy=RetryPolicy(maximum_attempts=2),
        )
        report = MonitorReport(
            service=inp.service, environment=env, checked_at=workflow.now(), results=checked.results
        )
        self.report = report
        if report.healthy:
            return report
        failing = [r for r in report.results if not r.ok]
        summary = "; ".join(f"{r.name}: {r.detail}" for r in failing)[:2000]
        done: list[str] = []
        declare = inp.monitor.on_failure.declare_incident
        if declare is not None:
            done.append(await self._declare(inp, declare.severity, declare.commander, summary))
        if inp.incidents is not None and inp.monitor.on_failure.open_incidents:
            done.append(await self._open_incidents(inp, failing[0].name, len(failing), summary))
        report.incident = "; ".join(done)
        return report

    async def _declare(self, inp: MonitorInput, severity: str, commander: str, why: str) -> str:
        env = inp.monitor.environment
        try:
            result: str = await workflow.execute_activity(
                "declare_monitor_incident",
                DeclareMonitorIncident(
                    control_id=inp.release_control or control_workflow_id(env),
                    environment=env,
                    incident=DeclareIncidentInput(
                        id=incident_id(inp.service),
                        severity=severity,
                        commander=commander,
                        summary=f"health monitor: {why}",
                        by=MONITOR,
                    ),
                ),
                result_type=str,
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=RetryPolicy(maximum_attempts=5),
            )
            return result
        except ActivityError as e:
            return f"could not declare the incident: {e.cause or e}"

    async def _open_incidents(self, inp: MonitorInput, first: str, count: int, why: str) -> str:
        assert inp.incidents is not None
        env = inp.monitor.environment
        report = IncidentReport(
            service=inp.service,
            environment=env,
            title=f"{inp.service} {env}: health check {first} failing"
            + (f" (+{count - 1} more)" if count > 1 else ""),
            summary=why,
            source="monitor",
            dedup_key=f"monitor/{inp.service}/{env}",
        )
        try:
            opened: OpenIncidentResult = await workflow.execute_activity(
                "open_incident",
                OpenIncidentInput(sinks=inp.incidents.open, report=report),
                result_type=OpenIncidentResult,
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=RetryPolicy(maximum_attempts=3),
            )
        except ActivityError as e:
            return f"could not open incidents: {e.cause or e}"
        return ", ".join(f"{r.sink}: {r.status}" for r in opened.results)

    @workflow.query(name="report")
    def query_report(self) -> MonitorReport | None:
        return self.report
