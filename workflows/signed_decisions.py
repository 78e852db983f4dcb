"""Who really sent a decision: signature, target, expiry and replay, checked in the workflow.

A Temporal signal or update never tells the workflow who sent it, so identity travels
inside the decision (`SignedDecision`). The signature and the signer are checked by
the activity `verify_decision_signature` against the worker's allowed-signers file,
read at call time (a revoked key stops working at once, and no key material enters
the history); what depends on the workflow (the decision names this workflow and
this action, it has not expired, its nonce was never used) is checked here against
`workflow.now()` and the nonces this workflow keeps until they expire.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from rollway.security.authorization import unsigned_refusal
    from rollway.security.decisions import (
        Refused,
        SignatureVerdict,
        SignedDecision,
        VerdictVerifier,
        Verified,
        VerifySignatureInput,
        verify_decision,
    )

MAX_NONCES = 1000  # accepted signed decisions remembered at once (each until its expiry)


@dataclass(frozen=True)
class Authenticated:
    """The outcome: `refusal` is None when the decision may go on to authorization."""

    refusal: str | None
    how: str = ""  # "unsigned" or "signed with SHA256:…", for the audit trail


class _Optimistic:
    """Passes every signature: lets `verify_decision` check target, expiry and replay
    before an activity is spent on the signature itself."""

    def __init__(self, scheme: str) -> None:
        self.scheme = scheme

    def check_signature(self, decision: SignedDecision, now: datetime) -> Verified | Refused:
        return Verified(
            principal=decision.by,
            scheme=self.scheme,
            nonce=decision.nonce,
            expires_at=decision.expires_at,
        )


def _refused(r: Refused) -> Authenticated:
    return Authenticated(f"{r.reason.value}: {r.detail}")


class DecisionGuard:
    """Authenticates decisions for one workflow; `nonces` (nonce -> expiry) is its memory."""

    def __init__(self, nonces: dict[str, datetime]) -> None:
        self.nonces = nonces
        self.pending: set[str] = set()

    def _prune(self, now: datetime) -> None:
        for nonce, expires in list(self.nonces.items()):
            if expires <= now:
                del self.nonces[nonce]

    async def authenticate(
        self,
        *,
        signed: SignedDecision | None,
        by: str,
        action: str,
        comment: str,
        unsigned_accepted: bool,
        where: str,
    ) -> Authenticated:
        """Is this `action` by `by` (with `comment`) proven, or acceptable unsigned in `where`?"""
        if signed is None:
            if unsigned_accepted:
                return Authenticated(None, "unsigned")
            return Authenticated(f"unsigned: {unsigned_refusal(action, by, where)}")
        if signed.by.lower() != by.lower():
            return Authenticated(
                f"signer_mismatch: the decision names {by} but is signed as {signed.by}: "
                "the signer is who decides"
            )
        if signed.comment != comment:
            return Authenticated(
                f"payload_mismatch: the signed comment {signed.comment[:200]!r} is not the "
                f"decision's {comment[:200]!r}: sign exactly what you send"
            )
        wf_id = workflow.info().workflow_id
        now = workflow.now()
        self._prune(now)
        early = verify_decision(
            signed,
            [_Optimistic(signed.scheme)],
            workflow_id=wf_id,
            action=action,
            now=now,
            seen_nonces=self.nonces.keys() | self.pending,
        )
        if isinstance(early, Refused):
            return _refused(early)
        if len(self.nonces) + len(self.pending) >= MAX_NONCES:
            return Authenticated(
                f"too_many: {MAX_NONCES} signed decisions are live on this workflow; "
                "retry once some expire"
            )
        self.pending.add(signed.nonce)
        try:
            verdict = await workflow.execute_activity(
                "verify_decision_signature",
                VerifySignatureInput(decision=signed, at=now),
                result_type=SignatureVerdict,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(maximum_attempts=3),
            )
        except ActivityError as e:
            return Authenticated(f"unverified: could not check the signature ({e.cause or e})")
        finally:
            self.pending.discard(signed.nonce)
        checked = verify_decision(
            signed,
            [VerdictVerifier(signed.scheme, verdict)],
            workflow_id=wf_id,
            action=action,
            now=workflow.now(),
            seen_nonces=self.nonces,
        )
        if isinstance(checked, Refused):
            return _refused(checked)
        if checked.principal.lower() != by.lower():
            return Authenticated(
                f"signer_mismatch: the signature proves {checked.principal}, "
                f"not {by}: the signer is who decides"
            )
        self.nonces[signed.nonce] = signed.expires_at
        return Authenticated(None, f"signed with {checked.key}" if checked.key else "signed")
