"""Every environment a promotion writes is locked per service, not only production."""

from __future__ import annotations

import asyncio

from temporalio.testing import WorkflowEnvironment

from rollway.models import ApprovalInput, Outcome, Stage
from tests.support.promotions import pipeline, wait_until
from tests.support.release_control import release_run


async def test_two_promotions_of_one_service_take_turns_in_staging(
    ts_env: WorkflowEnvironment,
) -> None:
    async with release_run(ts_env) as run:
        world = run.world
        world.ready_gate = asyncio.Event()  # hold the first one inside staging
        spec = pipeline()
        first = await run.start(spec, version="v2", commit="a" * 12)
        for _ in range(200):
            if ("deploy", "staging", "v2") in world.writes:
                break
            await asyncio.sleep(0.05)
        second = await run.start(spec, version="v3", commit="b" * 12)
        state = await wait_until(second, lambda s: s.staging_lock.startswith("queued behind"))
        assert state.staging_lock == f"queued behind {first.id}"
        assert not [w for w in world.writes if w[2] == "v3"]  # it has not touched staging
        world.ready_gate.set()

        await wait_until(second, lambda s: s.stage == Stage.APPROVAL)
        staging = [w for w in world.writes if w[1] == "staging"]
        assert staging == [
            ("deploy", "staging", "v2"),
            ("promote", "staging", "v2"),
            ("deploy", "staging", "v3"),
            ("promote", "staging", "v3"),
        ]
        timeline = [e.message for e in state.timeline]
        assert f"waiting for the staging lock held by {first.id}" in timeline

        await second.signal("approve", ApprovalInput(by="alice"))
        lost, won = await first.result(), await second.result()
    assert lost.outcome == Outcome.SUPERSEDED  # the newer commit took the production lock
    assert won.outcome == Outcome.PROMOTED
    assert world.stable == {"staging": "v3", "production": "v3"}
