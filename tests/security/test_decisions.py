"""Signed decisions: real `ssh-keygen` signatures, checked against an allowed-signers file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from rollway.cli.main import app
from rollway.security.decisions import (
    DecisionPayload,
    Refusal,
    Refused,
    SignedDecision,
    Verified,
    verify_decision,
)
from rollway.security.signing import SigningError, new_payload, sign_bytes, sign_decision
from rollway.security.ssh_verifier import SshDecisionVerifier, parse_allowed_signers
from tests.support.security.keys import Key, make_key

WF = "promote-demo-4f2a9c1"
NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


def signed(key: Key, by: str = "alice", action: str = "approve", **kw: object) -> SignedDecision:
    payload = new_payload(action, WF, by, comment="lgtm", now=NOW, **kw)  # type: ignore[arg-type]
    return sign_decision(payload, key.private)


def check(
    decision: SignedDecision,
    allowed: str,
    *,
    now: datetime = NOW,
    seen: set[str] | None = None,
    action: str = "approve",
) -> Verified | Refused:
    return verify_decision(
        decision,
        [SshDecisionVerifier(allowed)],
        workflow_id=WF,
        action=action,
        now=now,
        seen_nonces=seen or set(),
    )


def refused(result: Verified | Refused, reason: Refusal) -> str:
    assert isinstance(result, Refused), result
    assert result.reason == reason, result.detail
    return result.detail


@pytest.mark.parametrize("who", ["alice", "bob"])  # ed25519 and rsa
def test_valid_signature_names_the_signer(
    who: str, keys: dict[str, Key], allowed_signers: str
) -> None:
    decision = signed(keys[who], by=who)
    result = check(decision, allowed_signers)
    assert isinstance(result, Verified), result
    assert result.principal == who
    assert result.nonce == decision.nonce
    listed = subprocess.run(
        ["ssh-keygen", "-l", "-f", str(keys[who].public)], capture_output=True, text=True
    ).stdout.split()
    assert result.key == listed[1]  # the fingerprint `ssh-keygen -l` shows


def test_second_principal_on_the_same_line(keys: dict[str, Key], allowed_signers: str) -> None:
    result = check(signed(keys["alice"], by="alice@example.com"), allowed_signers)
    assert isinstance(result, Verified) and result.principal == "alice@example.com"


def test_ssh_keygen_agrees(keys: dict[str, Key], allowed_signers: str, tmp_path: Path) -> None:
    """Our verdict and `ssh-keygen -Y verify` agree on a good and on a tampered decision."""
    (tmp_path / "allowed").write_text(allowed_signers + "\n")
    decision = signed(keys["alice"])
    (tmp_path / "sig").write_text(decision.signature)
    tampered = decision.model_copy(update={"comment": "lgtm!"})

    def ssh_verify(d: SignedDecision) -> bool:
        return (
            subprocess.run(
                [
                    *("ssh-keygen", "-Y", "verify", "-f", str(tmp_path / "allowed")),
                    *("-I", "alice", "-n", "rollway-decision", "-s", str(tmp_path / "sig")),
                ],
                input=d.canonical_bytes(),
                capture_output=True,
            ).returncode
            == 0
        )

    assert ssh_verify(decision) and isinstance(check(decision, allowed_signers), Verified)
    assert not ssh_verify(tampered)
    refused(check(tampered, allowed_signers), Refusal.PAYLOAD_MISMATCH)


@pytest.mark.parametrize(
    "change",
    [
        {"comment": "approved by the CTO"},
        {"by": "alice@example.com"},
        {"expires_at": NOW + timedelta(hours=2)},
        {"nonce": "x" * 24},
    ],
)
def test_tampered_payload_is_refused(
    change: dict[str, object], keys: dict[str, Key], allowed_signers: str
) -> None:
    tampered = signed(keys["alice"]).model_copy(update=change)
    detail = refused(check(tampered, allowed_signers), Refusal.PAYLOAD_MISMATCH)
    assert "does not match" in detail


def test_decision_for_another_workflow_or_action_is_refused(
    keys: dict[str, Key], allowed_signers: str
) -> None:
    decision = signed(keys["alice"], action="reject")
    refused(check(decision, allowed_signers, action="approve"), Refusal.WRONG_TARGET)
    other = verify_decision(
        signed(keys["alice"]),
        [SshDecisionVerifier(allowed_signers)],
        workflow_id="promote-demo-0000000",
        action="approve",
        now=NOW,
        seen_nonces=set(),
    )
    refused(other, Refusal.WRONG_TARGET)


def test_wrong_namespace_is_refused(keys: dict[str, Key], allowed_signers: str) -> None:
    payload = new_payload("approve", WF, "alice", now=NOW)
    git_sig = sign_bytes(payload.canonical_bytes(), keys["alice"].private, namespace="git")
    decision = SignedDecision(**payload.model_dump(), signature=git_sig)
    assert "'git'" in refused(check(decision, allowed_signers), Refusal.WRONG_NAMESPACE)


def test_key_restricted_to_other_namespaces_is_refused(keys: dict[str, Key]) -> None:
    allowed = keys["alice"].allowed_line("alice", 'namespaces="git"')
    detail = refused(check(signed(keys["alice"]), allowed), Refusal.WRONG_NAMESPACE)
    assert "add rollway-decision" in detail


def test_unknown_principal_is_refused(keys: dict[str, Key], allowed_signers: str) -> None:
    decision = signed(keys["mallory"], by="mallory")
    detail = refused(check(decision, allowed_signers), Refusal.UNKNOWN_PRINCIPAL)
    assert "mallory is not in the allowed signers file" in detail


def test_someone_elses_key_is_refused(keys: dict[str, Key], allowed_signers: str) -> None:
    """Mallory signs an approval in Alice's name with her own key; Bob with his real key."""
    refused(check(signed(keys["mallory"], by="alice"), allowed_signers), Refusal.WRONG_KEY)
    refused(check(signed(keys["bob"], by="alice"), allowed_signers), Refusal.WRONG_KEY)


def test_expired_decision_is_refused(keys: dict[str, Key], allowed_signers: str) -> None:
    decision = signed(keys["alice"], ttl=timedelta(minutes=15))
    assert isinstance(check(decision, allowed_signers, now=NOW + timedelta(minutes=14)), Verified)
    later = NOW + timedelta(minutes=15)
    assert "sign it again" in refused(check(decision, allowed_signers, now=later), Refusal.EXPIRED)


def test_decision_living_too_long_is_refused(keys: dict[str, Key], allowed_signers: str) -> None:
    decision = signed(keys["alice"], ttl=timedelta(days=30))
    refused(check(decision, allowed_signers), Refusal.EXPIRY_TOO_FAR)


def test_replayed_nonce_is_refused(keys: dict[str, Key], allowed_signers: str) -> None:
    decision = signed(keys["alice"])
    first = check(decision, allowed_signers)
    assert isinstance(first, Verified)
    seen = {first.nonce}
    assert "already used" in refused(check(decision, allowed_signers, seen=seen), Refusal.REPLAYED)
    fresh = signed(keys["alice"])
    assert isinstance(check(fresh, allowed_signers, seen=seen), Verified)


def test_unsigned_and_garbage_signatures_are_refused(
    keys: dict[str, Key], allowed_signers: str
) -> None:
    payload = new_payload("approve", WF, "alice", now=NOW)
    unsigned = SignedDecision(**payload.model_dump())
    refused(check(unsigned, allowed_signers), Refusal.UNSIGNED)
    for junk in (
        "hello",
        "-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----",
        "-----BEGIN SSH SIGNATURE-----\n" + "U1NIU0lH" * 20 + "\n-----END SSH SIGNATURE-----",
    ):
        decision = SignedDecision(**payload.model_dump(), signature=junk)
        refused(check(decision, allowed_signers), Refusal.MALFORMED_SIGNATURE)
    other = SignedDecision(**payload.model_dump(), signature="x", scheme="oidc")
    assert "accepted: ssh" in refused(check(other, allowed_signers), Refusal.UNSUPPORTED_SCHEME)


def test_key_validity_window(keys: dict[str, Key]) -> None:
    allowed = keys["alice"].allowed_line(
        "alice", 'valid-after="20261201",valid-before="20261201020000Z"'
    )
    refused(check(signed(keys["alice"]), allowed), Refusal.WRONG_KEY)
    early = check(signed(keys["alice"]), allowed, now=datetime(2026, 12, 1, 1, 0, tzinfo=UTC))
    assert isinstance(early, Verified)


def test_principal_patterns_and_negation(keys: dict[str, Key]) -> None:
    allowed = keys["alice"].allowed_line('"ops-*,!ops-intern"')
    ok = signed(keys["alice"], by="ops-alice")
    assert isinstance(check(ok, allowed), Verified)
    refused(check(signed(keys["alice"], by="ops-intern"), allowed), Refusal.UNKNOWN_PRINCIPAL)


def test_allowed_signers_errors_name_the_line(keys: dict[str, Key], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="line 2: bad public key"):
        parse_allowed_signers("# ok\nalice ssh-ed25519 !!notbase64!!\n")
    ecdsa = make_key(tmp_path, "carol", "ecdsa")
    entries, unsupported = parse_allowed_signers(
        ecdsa.allowed_line("carol") + "\n" + keys["alice"].allowed_line("alice")
    )
    assert [e.principals for e in entries] == [("alice",)]
    assert unsupported == ["line 1: key type ecdsa-sha2-nistp256 is not supported"]


def test_payload_fields_are_validated() -> None:
    base = {"workflow_id": WF, "by": "alice", "expires_at": NOW, "nonce": "n" * 20}
    with pytest.raises(ValidationError, match="action 'deploy-anything' is not allowed"):
        DecisionPayload(action="deploy-anything", **base)
    with pytest.raises(ValidationError, match="by 'alice bob'"):
        DecisionPayload(action="approve", **(base | {"by": "alice bob"}))
    with pytest.raises(ValidationError, match="timezone"):
        DecisionPayload(action="approve", **(base | {"expires_at": datetime(2026, 12, 1)}))
    ok = DecisionPayload(action="override:promote_now", **base)
    assert json.loads(ok.canonical_bytes()) == {
        "action": "override:promote_now",
        "by": "alice",
        "comment": "",
        "expires_at": "2026-12-01T03:00:00Z",
        "nonce": "n" * 20,
        "workflow_id": WF,
    }


def test_canonical_bytes_do_not_depend_on_the_time_zone_written() -> None:
    base = {"workflow_id": WF, "action": "approve", "by": "alice", "nonce": "n" * 20}
    utc = DecisionPayload(expires_at=NOW, **base)
    berlin = DecisionPayload.model_validate(base | {"expires_at": "2026-12-01T04:00:00+01:00"})
    assert utc.canonical_bytes() == berlin.canonical_bytes()
    assert b'"expires_at":"2026-12-01T03:00:00Z"' in utc.canonical_bytes()


def test_signing_through_ssh_agent(keys: dict[str, Key], tmp_path: Path) -> None:
    """Only the public key on disk: `ssh-keygen` signs through the agent."""
    sock = tmp_path / "agent.sock"
    agent = subprocess.run(
        ["ssh-agent", "-s", "-a", str(sock)], capture_output=True, text=True, check=True
    )
    pid = int(agent.stdout.split("SSH_AGENT_PID=")[1].split(";")[0])
    old = os.environ.get("SSH_AUTH_SOCK")
    try:
        env = os.environ | {"SSH_AUTH_SOCK": str(sock)}
        private = tmp_path / "carol"
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(private)], check=True
        )
        subprocess.run(["ssh-add", "-q", str(private)], env=env, check=True)
        private.unlink()
        os.environ["SSH_AUTH_SOCK"] = str(sock)
        key = Key(private=private, public=private.with_suffix(".pub"))
        decision = sign_decision(new_payload("abort", WF, "carol", now=NOW), key.public)
        result = check(decision, key.allowed_line("carol"), action="abort")
        assert isinstance(result, Verified) and result.principal == "carol"
        os.environ["SSH_AUTH_SOCK"] = str(tmp_path / "no-agent.sock")
        with pytest.raises(SigningError, match="could not sign"):
            sign_decision(new_payload("abort", WF, "carol", now=NOW), key.public)
    finally:
        if old is None:
            os.environ.pop("SSH_AUTH_SOCK", None)
        else:
            os.environ["SSH_AUTH_SOCK"] = old
        os.kill(pid, signal.SIGTERM)


def test_cli_sign_prints_a_verifiable_decision(keys: dict[str, Key], allowed_signers: str) -> None:
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            *("sign", "override:rollback", WF, "--by", "bob", "--comment", "INC-7"),
            *("--key", str(keys["bob"].private), "--ttl", "10m"),
        ],
    )
    assert result.exit_code == 0, result.output
    decision = SignedDecision.model_validate_json(result.stdout)
    assert (decision.action, decision.by, decision.comment) == ("override:rollback", "bob", "INC-7")
    now = datetime.now(UTC)
    assert timedelta(minutes=9) < decision.expires_at - now <= timedelta(minutes=10)
    verdict = verify_decision(
        decision,
        [SshDecisionVerifier(allowed_signers)],
        workflow_id=WF,
        action="override:rollback",
        now=now,
        seen_nonces=set(),
    )
    assert isinstance(verdict, Verified) and verdict.principal == "bob"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sign", "deploy", WF, "--by", "bob"], "action 'deploy' is not allowed"),
        (["sign", "approve", WF, "--by", "bob", "--ttl", "3d"], "--ttl 3d: must be"),
        (["sign", "approve", WF, "--by", "bob", "--key", "/nonexistent"], "file not found"),
    ],
)
def test_cli_sign_errors(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code != 0
    assert message in " ".join(result.output.split())
