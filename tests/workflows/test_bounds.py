"""Nothing a caller sends can bloat a promotion's state or wedge it."""

from __future__ import annotations

import asyncio

from temporalio.client import Client

from rollway.models import ApprovalInput, Outcome, Stage
from tests.support.fake_world import FakeWorld
from tests.support.promotions import pipeline, query_state, running, wait_until

STATE_QUERY_LIMIT = 256 * 1024  # bytes of JSON


async def test_oversized_and_flooding_decisions_leave_the_state_small(ts_client: Client) -> None:
    world = FakeWorld()
    async with running(ts_client, world, pipeline()) as h:
        await wait_until(h, lambda s: s.stage == Stage.APPROVAL)
        # Twelve 200 KB approvals: refused at the door (they fail validation), not stored.
        for i in range(12):
            await h.signal("approve", {"by": f"mallory{i}", "comment": "x" * 200_000})
        # A flood of refused decisions: each is audited, the timeline stays bounded.
        for batch in range(7):
            await asyncio.gather(
                *(
                    h.signal("approve", ApprovalInput(by=f"eve{batch}-{i}", comment="again"))
                    for i in range(50)
                )
            )
        state = await query_state(h)
        assert not any(a.by.startswith("mallory") for a in state.approvals)
        assert len(state.timeline) <= 300
        assert state.timeline_dropped > 0
        assert state.timeline[0].message.startswith("promotion of v2 requested")
        assert len(state.model_dump_json()) < STATE_QUERY_LIMIT
        result = await h.result()  # the first flood approval counted; the rest were refused
    assert result.outcome == Outcome.PROMOTED
