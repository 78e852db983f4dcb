"""Signed decisions and authorization on the real workflows (time-skipping server).

Keys are made by `ssh-keygen`; the worker's allowed-signers file is a real file named
by `ROLLWAY_ALLOWED_SIGNERS`, read by the real `verify_decision_signature` activity.
Each attack is refused with its reason and audited.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from rollway.models import ActionInput, ApprovalInput, Outcome, PromotionState, Stage
from rollway.release_control import (
    AuditEntry,
    DeclareIncidentInput,
    OverrideInput,
    ReleaseControlState,
)
from rollway.security.signing import new_payload, sign_decision
from tests.histories.record import save_history
from tests.support.promotions import query_state, wait_until
from tests.support.release_control import MON, SEED_000, policy_pipeline, release_run, skip_to
from tests.support.security.keys import Key, make_key

PEOPLE = ("rm-ann", "rm-bob", "mallory", "carol")


@pytest.fixture(scope="module")
def people(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Key]:
    folder = tmp_path_factory.mktemp("people")
    return {name: make_key(folder, name, "ed25519") for name in PEOPLE}


@pytest.fixture
def signers(
    people: dict[str, Key], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """The worker trusts every person's key for that person (mallory included: she is a
    real employee, in no group)."""
    path = tmp_path / "allowed_signers"
    path.write_text("\n".join(people[p].allowed_line(p) for p in PEOPLE) + "\n")
    monkeypatch.setenv("ROLLWAY_ALLOWED_SIGNERS", str(path))
    yield path


def signed_production(policy: dict[str, Any]) -> dict[str, Any]:
    """A pipeline whose production keeps the default: unsigned decisions refused."""
    spec = policy_pipeline(policy)
    del spec["environments"]["production"]["policy"]["unsigned_decisions"]
    spec["owners"] = ["demo-owners"]
    return spec


async def signed_by(
    env: WorkflowEnvironment,
    key: Key,
    action: str,
    workflow_id: str,
    by: str,
    comment: str = "",
    *,
    at: datetime | None = None,
    ttl: timedelta = timedelta(minutes=15),
) -> Any:
    now = at or await env.get_current_time()
    return sign_decision(
        new_payload(action, workflow_id, by, comment=comment, ttl=ttl, now=now), key.private
    )


def refusals(state: PromotionState | ReleaseControlState, by: str) -> list[AuditEntry]:
    return [a for a in state.audit if a.by == by and not a.accepted]


async def at_approval(h: WorkflowHandle[Any, Any]) -> PromotionState:
    return await wait_until(h, lambda s: s.stage == Stage.APPROVAL and s.lock == "granted")


async def test_valid_signed_approvals_promote(
    ts_env: WorkflowEnvironment, people: dict[str, Key], signers: Path
) -> None:
    await skip_to(ts_env, MON, 10, 0)
    async with release_run(ts_env) as run:
        h = await run.start(signed_production(SEED_000))
        state = await at_approval(h)
        assert state.unsigned_decisions == {"staging": "accepted", "production": "refused"}
        for who in ("rm-ann", "rm-bob"):
            decision = await signed_by(ts_env, people[who], "approve", h.id, who, "lgtm")
            await h.execute_update(
                "approve",
                ApprovalInput(by=who, comment="lgtm", signed=decision),
                result_type=PromotionState,
            )
        result = await h.result()
        save_history(await h.fetch_history(), "signed-approvals-promoted")
    assert result.outcome == Outcome.PROMOTED, result.reason
    assert result.state is not None
    accepted = [a for a in result.state.audit if a.action == "approve" and a.accepted]
    assert [a.by for a in accepted] == ["rm-ann", "rm-bob"]
    assert all("signed with SHA256:" in a.reason for a in accepted)


async def test_unsigned_decision_on_production_is_refused_and_audited(
    ts_env: WorkflowEnvironment, signers: Path
) -> None:
    await skip_to(ts_env, MON, 10, 0)
    async with release_run(ts_env) as run:
        h = await run.start(signed_production(SEED_000))
        await at_approval(h)
        await h.signal("approve", ApprovalInput(by="rm-ann", comment="trust me"))
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await h.execute_update("approve", ApprovalInput(by="rm-bob"))
        state = await wait_until(h, lambda s: len(refusals(s, "rm-bob")) == 1)
    assert "refuses unsigned decisions" in str(refused.value.cause)
    for who in ("rm-ann", "rm-bob"):
        (entry,) = refusals(state, who)
        assert entry.reason.startswith("unsigned:"), entry.reason
        assert "environment 'production' refuses unsigned decisions" in entry.reason
    assert not state.approvals and state.stage == Stage.APPROVAL


async def test_forged_approver_is_refused(
    ts_env: WorkflowEnvironment, people: dict[str, Key], signers: Path
) -> None:
    await skip_to(ts_env, MON, 10, 0)
    async with release_run(ts_env) as run:
        h = await run.start(signed_production(SEED_000))
        await at_approval(h)
        # mallory signs with her own key a decision that says rm-ann approves
        forged = await signed_by(ts_env, people["mallory"], "approve", h.id, "rm-ann")
        await h.signal("approve", ApprovalInput(by="rm-ann", signed=forged))
        # and a decision signed as herself, sent in rm-ann's name
        own = await signed_by(ts_env, people["mallory"], "approve", h.id, "mallory")
        await h.signal("approve", ApprovalInput(by="rm-ann", signed=own))
        state = await wait_until(h, lambda s: len(refusals(s, "rm-ann")) == 2)
    # (the mismatch needs no activity, so it may be recorded first)
    reasons = sorted(a.reason for a in refusals(state, "rm-ann"))
    assert reasons[0].startswith("signer_mismatch:"), reasons
    assert reasons[1].startswith("wrong_key:") and "not a key of rm-ann" in reasons[1], reasons
    assert not state.approvals


async def test_replayed_expired_and_misdirected_decisions_are_refused(
    ts_env: WorkflowEnvironment, people: dict[str, Key], signers: Path
) -> None:
    await skip_to(ts_env, MON, 10, 0)
    async with release_run(ts_env) as run:
        h = await run.start(signed_production(SEED_000))
        await at_approval(h)
        now = await ts_env.get_current_time()
        ann = await signed_by(ts_env, people["rm-ann"], "approve", h.id, "rm-ann")
        await h.signal("approve", ApprovalInput(by="rm-ann", signed=ann))
        await wait_until(h, lambda s: len(s.approvals) == 1)
        await h.signal("approve", ApprovalInput(by="rm-ann", signed=ann))  # replayed
        stale = await signed_by(
            ts_env, people["rm-bob"], "approve", h.id, "rm-bob", at=now - timedelta(hours=1)
        )
        await h.signal("approve", ApprovalInput(by="rm-bob", signed=stale))  # expired
        elsewhere = await signed_by(
            ts_env, people["rm-bob"], "approve", "promote-demo-another", "rm-bob"
        )
        await h.signal("approve", ApprovalInput(by="rm-bob", signed=elsewhere))
        reject = await signed_by(ts_env, people["rm-bob"], "reject", h.id, "rm-bob")
        await h.signal("approve", ApprovalInput(by="rm-bob", signed=reject))  # other action
        state = await wait_until(h, lambda s: len(refusals(s, "rm-bob")) == 3)
    assert [a.reason.split(":")[0] for a in refusals(state, "rm-ann")] == ["replayed"]
    assert sorted(a.reason.split(":")[0] for a in refusals(state, "rm-bob")) == [
        "expired",
        "wrong_target",
        "wrong_target",
    ]
    assert [a.by for a in state.approvals] == ["rm-ann"]


async def test_a_self_declared_commander_is_refused(
    ts_env: WorkflowEnvironment, people: dict[str, Key], signers: Path
) -> None:
    await skip_to(ts_env, MON, 10, 0)
    async with release_run(ts_env) as run:
        run.world.control_unsigned = False
        h = await run.start(signed_production(SEED_000))
        await at_approval(h)
        declare = DeclareIncidentInput(
            id="INC-666", severity="SEV-4", commander="mallory", summary="trust me", by="mallory"
        )
        declare.signed = await signed_by(
            ts_env, people["mallory"], "incident-declare", run.control, "mallory",
            declare.signed_text(),
        )  # fmt: skip
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await run.control_update("declare_incident", declare)
        assert "mallory may not incident declare" in str(refused.value.cause)
        # unsigned, release control refuses it before asking who may
        with pytest.raises(WorkflowUpdateFailedError):
            await run.control_update(
                "declare_incident", declare.model_copy(update={"signed": None, "id": "INC-7"})
            )
        control: ReleaseControlState = await ts_env.client.get_workflow_handle(run.control).query(
            "state", result_type=ReleaseControlState
        )
        assert not control.snapshot.incidents
        (first, second) = refusals(control, "mallory")
        assert "may not incident declare" in first.reason
        assert second.reason.startswith("unsigned:")
        # with no incident to command, her signed override is refused too
        override = OverrideInput(by="mallory", kind="promote_now", reason="I am IC")
        override.signed = await signed_by(
            ts_env, people["mallory"], "override:promote_now", h.id, "mallory", override.reason
        )
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await h.execute_update("override", override, result_type=PromotionState)
        assert "mallory may not override" in str(refused.value.cause)
        state = await query_state(h)
        control_history = ts_env.client.get_workflow_handle(run.control)
        save_history(await control_history.fetch_history(), "signed-release-control-refused")
    (entry,) = refusals(state, "mallory")
    assert entry.action == "override promote_now" and "may not override" in entry.reason


async def test_outsiders_may_not_abort_or_resume_an_analysis_paused_canary(
    ts_env: WorkflowEnvironment, people: dict[str, Key], signers: Path
) -> None:
    """Unsigned is accepted here, yet who acts still has to be allowed to."""
    await skip_to(ts_env, MON, 10, 0)
    async with release_run(ts_env) as run:
        run.world.verdicts = ["inconclusive"] * 400
        spec = policy_pipeline({})
        spec["owners"] = ["demo-owners"]
        spec["canary"]["analysis"]["inconclusive_limit"] = 2
        h = await run.start(spec)
        await wait_until(h, lambda s: s.canary is not None)
        await ts_env.sleep(timedelta(minutes=5))  # two inconclusive analyses
        await wait_until(h, lambda s: s.canary is not None and s.canary.paused)
        await h.signal("resume", ActionInput(by="mallory", reason="looks fine to me"))
        await h.signal("abort", ActionInput(by="mallory", reason="sabotage"))
        state = await wait_until(h, lambda s: len(refusals(s, "mallory")) == 2)
        assert state.canary is not None and state.canary.paused
        assert state.outcome == Outcome.RUNNING
        # carol owns the service (demo-owners) and signs her resume
        resume = await signed_by(ts_env, people["carol"], "resume", h.id, "carol", "checked")
        await h.signal("resume", ActionInput(by="carol", reason="checked", signed=resume))
        state = await wait_until(h, lambda s: any(a.by == "carol" for a in s.audit))
        save_history(await h.fetch_history(), "signed-unauthorized-resume-refused")
    assert [a.action for a in refusals(state, "mallory")] == ["resume", "abort"]
    assert all("mallory may not" in a.reason for a in refusals(state, "mallory"))
    (carol,) = [a for a in state.audit if a.by == "carol"]
    assert carol.accepted and carol.action == "resume" and "signed with SHA256:" in carol.reason
