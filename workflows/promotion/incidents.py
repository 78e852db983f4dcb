"""Incidents out: a promotion that rolled back (or failed) opens an incident where the pipeline says."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from rollway.incidents.report import IncidentReport, OpenIncidentInput, OpenIncidentResult
    from workflows.promotion import options
    from workflows.promotion.context import Promotion, cause


async def open_incident(p: Promotion) -> None:
    """Activity `open_incident` when the outcome is one the pipeline opens incidents for.

    Never changes the outcome: a tool that stays down is a warning in the timeline.
    """
    spec = p.spec.incidents
    outcome = p.state.outcome
    if spec is None or outcome.value not in spec.when:
        return
    environment = p.spec.canary.environment
    failing = ", ".join(f"{m.name} {m.message}".strip() for m in p.state.rollback_metrics)
    report = IncidentReport(
        service=p.inp.service,
        environment=environment,
        title=f"{p.inp.service} {p.inp.version} {outcome.value.replace('_', ' ')} in {environment}",
        summary=p.state.reason[:2000],
        source="canary",
        dedup_key=f"{workflow.info().workflow_id}/{outcome.value}",
        details={
            "version": p.inp.version,
            "commit": p.inp.commit,
            "workflow": workflow.info().workflow_id,
            **({"failing metrics": failing[:500]} if failing else {}),
        },
    )
    try:
        done: OpenIncidentResult = await workflow.execute_activity(
            "open_incident",
            OpenIncidentInput(sinks=spec.open, report=report),
            result_type=OpenIncidentResult,
            **options.INCIDENT,
        )
    except ActivityError as e:
        p.keeper.log(f"warning: could not open an incident: {cause(e)}")
        return
    for r in done.results:
        if r.status == "failed":
            p.keeper.log(f"warning: incident not opened in {r.sink}: {r.error}")
        else:
            p.keeper.log(f"incident {r.status} in {r.sink}: {r.link}".rstrip(": "))
