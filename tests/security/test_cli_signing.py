"""The CLI signs decisions by itself where the promotion's production refuses unsigned ones.

A real dev server, the real worker code with test activities, and the real
`verify_decision_signature` activity reading an allowed-signers file made from a key
that `ssh-keygen` generated.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import Client

from rollway.models import Stage
from tests.support.cli import Cli, cli, end_promotions, flat, new_commit, promote, wait_for, worker
from tests.support.security.keys import make_key

__all__ = ["cli", "end_promotions", "worker"]  # the CLI fixtures, for this module only

PIPELINE = """\
service: demo
run: {command: ["python", "app.py"]}
environments:
  staging: {platform: {kind: local}}
  production: {platform: {kind: local}}
build: {command: ["true"]}
approval: {required: 1}
canary:
  steps: [{weight: 50, soak: 60s}]
  analysis:
    interval: 10s
    metrics: [{name: success-rate, template: haproxy-success-rate, min: 0.99}]
"""


async def test_cli_signs_where_production_refuses_unsigned(
    cli: Cli,
    worker: list[str],
    dev_client: Client,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    alice = make_key(tmp_path, "alice", "ed25519")
    signers = tmp_path / "allowed_signers"
    signers.write_text(alice.allowed_line("alice") + "\n")
    monkeypatch.setenv("ROLLWAY_ALLOWED_SIGNERS", str(signers))
    spec = tmp_path / "demo.yaml"
    spec.write_text(PIPELINE)
    commit = new_commit()
    wid = f"promote-demo-{commit}"
    assert (await promote(cli, worker, spec, commit)).exit_code == 0
    await wait_for(dev_client, wid, lambda s: s.stage == Stage.APPROVAL)
    # nobody's key at hand: no ssh-agent, an empty home
    (tmp_path / "empty-home").mkdir()
    keyless = Cli({**cli.env, "HOME": str(tmp_path / "empty-home"), "SSH_AUTH_SOCK": ""})

    r = await keyless("status", wid)
    assert r.exit_code == 0, r.output
    assert "production requires signed decisions" in flat(r)
    assert "staging accepts unsigned decisions" in flat(r)

    r = await keyless("approve", wid, "--by", "alice")
    assert r.exit_code == 1
    assert "production refuses unsigned decisions and no SSH key was found" in flat(r)
    assert "--key" in flat(r)

    r = await keyless("approve", wid, "--by", "alice", "--unsigned")
    assert r.exit_code == 1 and "drop --unsigned" in flat(r)

    r = await keyless("approve", wid, "--by", "alice", "--key", str(alice.private))
    assert r.exit_code == 0, r.output
    state = await wait_for(dev_client, wid, lambda s: s.stage != Stage.APPROVAL)
    (entry,) = [a for a in state.audit if a.action == "approve"]
    assert entry.by == "alice" and entry.accepted and "signed with SHA256:" in entry.reason

    # a key the worker does not trust signs, and the worker refuses it
    mallory = make_key(tmp_path, "mallory", "ed25519")
    r = await keyless("pause", wid, "--by", "mallory", "--key", str(mallory.private))
    assert r.exit_code == 0, r.output  # a signal: the refusal is in the audit
    state = await wait_for(dev_client, wid, lambda s: any(a.by == "mallory" for a in s.audit))
    (refused,) = [a for a in state.audit if a.by == "mallory"]
    assert not refused.accepted and "not in the allowed signers file" in refused.reason
