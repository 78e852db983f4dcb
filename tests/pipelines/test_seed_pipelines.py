"""Every pipeline in pipelines/ validates, and each seed's pipeline runs to 100 %.

The seed pipelines carry the five source documents' policies (steps and soaks,
rollback thresholds, approvals, schedules, freezes, incident locks, hotfix paths).
Here each runs through PromotionWorkflow on the time-skipping server, loaded by
name from the catalog (pipelines/) by the real catalog code, with the
production activities replaced by same-named fakes, at a time its schedule allows
and with approvals from the groups its policy names, signed with real SSH keys (a
seed's production keeps the default: unsigned decisions are refused).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from rollway.models import ApprovalInput, Outcome
from rollway.security.signing import new_payload, sign_decision
from rollway.spec_catalog import file_digest
from rollway.spec_loader import load_pipeline
from tests.histories.record import save_history
from tests.support.promotions import wait_until
from tests.support.release_control import TUE, release_run, skip_to
from tests.support.security.keys import Key, make_key

PIPELINES = sorted((Path(__file__).resolve().parents[2] / "pipelines").glob("*.yaml"))

SEEDS = {  # pipeline -> (source seed, canary weights, approvers)
    "order-service": ("000", [5, 25, 50, 100], ["rm-ann", "rm-bob"]),
    "api-gateway": ("001", [5, 25, 50, 100], ["rm-cat"]),
    "service-name": ("002", [10, 50, 100], ["ops-olga"]),
    "orders-api": ("003", [10, 50, 100], ["ops-olga", "rm-ann"]),
    "novapay-payments": ("004", [10, 50, 100], []),
}


RECORDED = {  # replay history (tests/histories) of the Argo CD staging path
    "novapay-payments": "seed-novapay-argocd",
}


@pytest.mark.parametrize("path", PIPELINES, ids=[p.stem for p in PIPELINES])
def test_every_pipeline_validates(path: Path) -> None:
    spec = load_pipeline(path)
    assert spec.service == path.stem


def test_every_seed_has_a_pipeline() -> None:
    assert {p.stem for p in PIPELINES} >= set(SEEDS)


APPROVERS = sorted({who for _, _, approvers in SEEDS.values() for who in approvers})


@pytest.fixture(scope="module")
def approver_keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Key]:
    folder = tmp_path_factory.mktemp("approvers")
    return {who: make_key(folder, who, "ed25519") for who in APPROVERS}


@pytest.fixture
def allowed_signers(
    approver_keys: dict[str, Key], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "allowed_signers"
    path.write_text("\n".join(k.allowed_line(who) for who, k in approver_keys.items()) + "\n")
    monkeypatch.setenv("ROLLWAY_ALLOWED_SIGNERS", str(path))


@pytest.mark.parametrize("service", sorted(SEEDS))
async def test_seed_pipeline_runs_to_full_traffic(
    ts_env: WorkflowEnvironment,
    service: str,
    approver_keys: dict[str, Key],
    allowed_signers: None,
) -> None:
    _, weights, approvers = SEEDS[service]
    raw = load_pipeline(PIPELINES[[p.stem for p in PIPELINES].index(service)])
    await skip_to(ts_env, TUE, 10, 0)
    async with release_run(ts_env) as run:
        run.world.groups["ops"] = ["ops-olga"]
        handle = await run.start(pipeline_name=service)  # from the catalog, by name
        if approvers:
            await wait_until(handle, lambda s: s.stage.value == "approval")
            for who in approvers:
                now = await ts_env.get_current_time()
                signed = sign_decision(
                    new_payload("approve", handle.id, who, now=now), approver_keys[who].private
                )
                await handle.signal("approve", ApprovalInput(by=who, signed=signed))
        result = await handle.result()
        if service in RECORDED:
            save_history(await handle.fetch_history(), RECORDED[service])
    assert result.outcome == Outcome.PROMOTED, result.reason
    assert result.state is not None and result.state.canary is not None
    path = PIPELINES[[p.stem for p in PIPELINES].index(service)]
    assert result.state.pipeline_digest == file_digest(path.read_bytes())
    assert result.state.canary.steps == weights
    ramp = [int(c.rsplit(":", 1)[1]) for c in run.world.calls if c.startswith("weight:production")]
    assert ramp == [*weights, 100], "every step, then the promotion to 100 %"
    if raw.image is not None:
        assert result.state.artifact is not None and "@sha256:" in result.state.artifact
    if raw.audit is not None:
        assert "archive_audit" in run.world.calls
    staging = raw.environments[raw.staging.environment].platform if raw.staging else None
    if staging is not None and getattr(staging, "argocd", None) is not None:
        assert any(c.startswith("argocd_sync:staging") for c in run.world.calls)
