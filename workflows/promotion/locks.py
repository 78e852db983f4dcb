"""Per-service environment locks: one promotion writes an environment at a time.

Production's lock is taken at the production gate (a newer commit supersedes one
still awaiting approval); staging's is held while the promotion deploys and
smoke-tests there (newer commits wait, the newest of them goes next).
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from rollway.models import Outcome
    from workflows.promotion.context import Promotion, Stop
    from workflows.promotion.release_control import ReleaseParticipant


async def await_lock(p: Promotion, lock: ReleaseParticipant) -> None:
    """Wait for the service's lock in `lock`'s environment; a newer commit may supersede us."""
    while True:
        await lock.sync()
        decision = lock.lock
        if decision is not None and decision.status == "granted":
            _describe(p, lock, "granted")
            if decision.holder is not None and decision.holder not in p.state.supersedes:
                p.state.supersedes.append(decision.holder)
                p.keeper.audit("rollway", f"superseded {decision.holder}", reason="newer commit")
            return
        check_superseded(p, lock)
        p.check_abort()
        waiting = f"queued behind {decision.holder}" if decision is not None else ""
        if decision is not None and decision.status == "queued" and _described(p, lock) != waiting:
            _describe(p, lock, waiting)
            p.keeper.log(f"waiting for the {lock.environment} lock held by {decision.holder}")
        p.flags.changed = False
        await p.wait_change(lock.wait_limit(None))


def check_superseded(p: Promotion, lock: ReleaseParticipant) -> None:
    decision = lock.lock
    if decision is not None and decision.status == "superseded":
        p.state.superseded_by = decision.superseded_by
        raise Stop(Outcome.SUPERSEDED, f"superseded by {decision.superseded_by}")


def _describe(p: Promotion, lock: ReleaseParticipant, text: str) -> None:
    if lock is p.release:
        p.state.lock = text
    else:
        p.state.staging_lock = text


def _described(p: Promotion, lock: ReleaseParticipant) -> str:
    return p.state.lock if lock is p.release else p.state.staging_lock
