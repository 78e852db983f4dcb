"""The migration stage: guard and apply the pipeline's migrations to one environment's database."""

from __future__ import annotations

import asyncio
import contextlib

from temporalio import activity
from temporalio.exceptions import ApplicationError

from rollway.migrations.files import MigrationFolderError
from rollway.migrations.models import MigrateInput, MigrateResult
from rollway.migrations.runner import MigrationError, run

HEARTBEAT_EVERY_S = 5.0


@activity.defn(name="migrate")
async def migrate(inp: MigrateInput) -> MigrateResult:
    """Idempotent: applied files are in the ledger, so a retry applies only the rest.

    A guard refusal is a result (nothing applied), not an error; the database URL is
    read here from the variable the spec names and appears in no payload or message.
    """
    last = ["connecting"]
    beat = asyncio.create_task(_heartbeat(last))
    try:
        return await run(inp, lambda message: last.__setitem__(0, message))
    except MigrationFolderError as e:
        raise ApplicationError(str(e), type="MigrationFolder", non_retryable=True) from None
    except MigrationError as e:
        raise ApplicationError(
            str(e), type="MigrationFailed", non_retryable=not e.retryable
        ) from None
    finally:
        beat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beat


async def _heartbeat(last: list[str]) -> None:
    while True:
        activity.heartbeat(last[0])
        await asyncio.sleep(HEARTBEAT_EVERY_S)
