"""A small workflow whose input, activity result, failure and result carry a marker."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel
from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError


class Secretive(BaseModel):
    marker: str


@activity.defn
async def echo_marker(inp: Secretive) -> Secretive:
    return Secretive(marker=f"echo {inp.marker}")


@activity.defn
async def fail_with_marker(inp: Secretive) -> None:
    raise ApplicationError(f"build failed near {inp.marker}", non_retryable=True)


@workflow.defn
class CodecWorkflow:
    @workflow.run
    async def run(self, inp: Secretive) -> Secretive:
        echoed = await workflow.execute_activity(
            echo_marker, inp, start_to_close_timeout=timedelta(seconds=30)
        )
        try:
            await workflow.execute_activity(
                fail_with_marker,
                inp,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(maximum_attempts=1),
            )
        except ActivityError as e:
            return Secretive(marker=f"{echoed.marker} / {e.cause}")
        return echoed
