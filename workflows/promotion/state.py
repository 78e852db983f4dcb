"""Bookkeeping for a promotion's queryable state: timeline, details, search attributes."""

from __future__ import annotations

from temporalio import workflow
from temporalio.common import SearchAttributeKey

with workflow.unsafe.imports_passed_through():
    from rollway.models import AnalysisResult, PromotionState, Stage, TimelineEntry
    from rollway.release_control import AuditEntry

STAGE_KEY = SearchAttributeKey.for_keyword("RollwayStage")
SERVICE_KEY = SearchAttributeKey.for_keyword("RollwayService")
OUTCOME_KEY = SearchAttributeKey.for_keyword("RollwayOutcome")
MAX_ANALYSES = 20
MAX_TIMELINE = 300  # entries kept: the first (how it started) and the newest
MAX_AUDIT = 200


class StateKeeper:
    """Owns a `PromotionState` and records every change with `workflow.now()`."""

    def __init__(self, state: PromotionState) -> None:
        self.state = state

    def log(self, message: str, by: str | None = None) -> None:
        timeline = self.state.timeline
        timeline.append(
            TimelineEntry(at=workflow.now(), stage=self.state.stage, message=message, by=by)
        )
        if len(timeline) > MAX_TIMELINE:  # bounded, so the state query stays small
            del timeline[1]
            self.state.timeline_dropped += 1
        workflow.logger.info("%s: %s", self.state.stage.value, message)
        self._details()

    def audit(self, by: str, action: str, *, accepted: bool = True, reason: str = "") -> None:
        """Record a decision (who, what, accepted or refused, why) and log it."""
        self.state.audit.append(
            AuditEntry(at=workflow.now(), by=by, action=action, accepted=accepted, reason=reason)
        )
        if len(self.state.audit) > MAX_AUDIT:
            del self.state.audit[0]
        verdict = "" if accepted else "refused: "
        self.log(f"{verdict}{action}" + (f" ({reason})" if reason else ""), by=by)

    def enter(self, stage: Stage, message: str) -> None:
        self.state.stage = stage
        self.log(message)
        # Only when the starter registered Rollway's search attributes: upserting an
        # unknown attribute fails the workflow task (and the time-skipping server knows none).
        if workflow.info().typed_search_attributes.get(SERVICE_KEY) is not None:
            workflow.upsert_search_attributes([STAGE_KEY.value_set(stage.value)])

    def record_outcome(self) -> None:
        """Upsert `RollwayOutcome` so the UI's list tells promoted from rolled back.

        Only when the starter set it (to `running`): that proves the namespace knows
        the attribute, so a namespace registered before it existed never sees a
        failing workflow task at the very end of a promotion.
        """
        if workflow.info().typed_search_attributes.get(OUTCOME_KEY) is not None:
            workflow.upsert_search_attributes([OUTCOME_KEY.value_set(self.state.outcome.value)])

    def record_analysis(self, result: AnalysisResult) -> None:
        canary = self.state.canary
        assert canary is not None
        result.at = workflow.now()
        canary.analyses = [*canary.analyses, result][-MAX_ANALYSES:]
        self._details()

    def _details(self) -> None:
        s = self.state
        lines = [f"**{s.service}** {s.version} ({s.commit[:12]}): {s.stage.value}"]
        if s.outcome.value != "running":
            lines.append(f"outcome: **{s.outcome.value}** {s.reason}")
        if s.canary and s.stage == Stage.CANARY:
            c = s.canary
            lines.append(
                f"canary {c.weight}% (step {c.step + 1}/{len(c.steps)})"
                + (" paused" if c.paused else "")
            )
            if c.analyses:
                lines.append(f"last analysis: {c.analyses[-1].status}: {c.analyses[-1].message}")
        if s.stage == Stage.APPROVAL:
            lines.append(
                f"approvals {len([a for a in s.approvals if a.decision == 'approve'])}"
                f"/{s.approvals_required}"
            )
        workflow.set_current_details("\n".join(lines))
