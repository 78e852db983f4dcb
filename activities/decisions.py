"""Signed decisions on the worker: the signature against the allowed-signers file, and
release control's decision policy.

The allowed-signers file (`ROLLWAY_ALLOWED_SIGNERS`, git's format) is read at every
call, so a key removed from it stops working at once; only the verdict (principal,
key fingerprint, or why not) enters the workflow's history, never the file.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from temporalio import activity

from activities.groups import load_groups
from rollway.release_control import ControlPolicy
from rollway.security.decisions import (
    Refusal,
    Refused,
    SignatureVerdict,
    VerifySignatureInput,
)
from rollway.security.ssh_verifier import SshDecisionVerifier

SIGNERS_ENV = "ROLLWAY_ALLOWED_SIGNERS"
UNSIGNED_CONTROL_ENV = "ROLLWAY_UNSIGNED_CONTROL"


def _no_signers(detail: str) -> SignatureVerdict:
    return SignatureVerdict.of(Refused(reason=Refusal.UNKNOWN_PRINCIPAL, detail=detail))


@activity.defn(name="verify_decision_signature")
async def verify_decision_signature(inp: VerifySignatureInput) -> SignatureVerdict:
    """Check the signature and the signer against `$ROLLWAY_ALLOWED_SIGNERS` (read now)."""
    return await asyncio.to_thread(check_signature_now, inp)


def check_signature_now(inp: VerifySignatureInput) -> SignatureVerdict:
    """The work of `verify_decision_signature` (file read and signature check)."""
    decision = inp.decision
    path = os.environ.get("ROLLWAY_ALLOWED_SIGNERS", "")
    if not path:
        return _no_signers(
            f"this worker trusts no signing keys: start it with {SIGNERS_ENV}=<allowed signers "
            "file> (git's format, see docs/security.md)"
        )
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        return _no_signers(f"{SIGNERS_ENV}={path}: cannot read it ({e})")
    try:
        verifier = SshDecisionVerifier(text)
    except ValueError as e:
        return _no_signers(f"{SIGNERS_ENV}={path}: {e}")
    if decision.scheme != verifier.scheme:
        return SignatureVerdict.of(
            Refused(
                reason=Refusal.UNSUPPORTED_SCHEME,
                detail=f"signature scheme {decision.scheme!r} is not accepted here "
                f"(accepted: {verifier.scheme})",
            )
        )
    return SignatureVerdict.of(verifier.check_signature(decision, inp.at))


def control_accepts_unsigned(environment: str) -> bool:
    """`$ROLLWAY_UNSIGNED_CONTROL`: environments (comma-separated, or `*`) whose release
    control accepts unsigned incident and freeze decisions; default none."""
    listed = os.environ.get("ROLLWAY_UNSIGNED_CONTROL", "")
    names = {n.strip() for n in listed.split(",") if n.strip()}
    return "*" in names or environment in names


@activity.defn(name="load_control_policy")
async def load_control_policy(environment: str) -> ControlPolicy:
    """The groups file and whether `environment`'s release control takes unsigned decisions."""
    groups = await asyncio.to_thread(load_groups, environment)
    return ControlPolicy(groups=groups, unsigned_accepted=control_accepts_unsigned(environment))
