"""Signed human decisions: who decided what, on which workflow, until when, provably.

A `SignedDecision` is the payload a person signs (`workflow_id`, `action`, `by`,
`comment`, `expires_at`, `nonce`) plus the `signature` and its `scheme`. The
signature covers `canonical_bytes()`: the payload as sorted-key, compact JSON in
UTF-8, `expires_at` in UTC with a `Z` suffix, e.g.

    {"action":"approve","by":"alice","comment":"lgtm","expires_at":"2026-12-01T03:10:00Z",
     "nonce":"q3V…","workflow_id":"promote-demo-4f2a9c1"}

`verify_decision` checks everything that does not depend on the scheme (the
decision names this workflow and this action, it has not expired, it does not
live too long, its nonce is new) and asks the scheme's `DecisionVerifier` for
the signature and the signer's identity. It is pure (no I/O, no clock: `now` is
passed in, the caller keeps the seen nonces), so it runs inside the workflow
sandbox as well as in an activity.
"""

from __future__ import annotations

import json
import re
from collections.abc import Container, Iterable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

SIMPLE_ACTIONS = (
    "approve",
    "reject",
    "rollback",
    "abort",
    "pause",
    "resume",
    "incident-declare",
    "incident-resolve",
    "freeze",
    "unfreeze",
)
ACTION_RE = re.compile(r"^(?:" + "|".join(SIMPLE_ACTIONS) + r"|override:[a-z][a-z_]{0,31})$")
PRINCIPAL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}$")
WORKFLOW_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,199}$")
NONCE_RE = re.compile(r"^[A-Za-z0-9_-]{16,128}$")
PAYLOAD_FIELDS = frozenset({"workflow_id", "action", "by", "comment", "expires_at", "nonce"})
DEFAULT_MAX_TTL = timedelta(hours=24)


def _check(value: str, pattern: re.Pattern[str], field: str, form: str) -> str:
    if not pattern.match(value):
        raise ValueError(f"{field} {value[:120]!r} is not allowed: use {form}")
    return value


class DecisionPayload(BaseModel):
    """What a person decides; `canonical_bytes()` is what they sign."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    workflow_id: str = Field(description="The workflow the decision is for, e.g. promote-demo-….")
    action: str = Field(
        description=f"One of {', '.join(SIMPLE_ACTIONS)}, or override:<kind> "
        "(e.g. override:rollback)."
    )
    by: str = Field(description="The person deciding: a principal of the allowed-signers file.")
    comment: str = Field(default="", max_length=2000)
    expires_at: AwareDatetime = Field(description="After this instant the decision is refused.")
    nonce: str = Field(description="16 to 128 URL-safe characters, unique per decision.")

    @field_validator("workflow_id")
    @classmethod
    def _workflow_id(cls, v: str) -> str:
        return _check(
            v, WORKFLOW_ID_RE, "workflow_id", "letters, digits and . _ : @ / - (at most 200)"
        )

    @field_validator("action")
    @classmethod
    def _action(cls, v: str) -> str:
        return _check(
            v, ACTION_RE, "action", f"one of {', '.join(SIMPLE_ACTIONS)} or override:<kind>"
        )

    @field_validator("by")
    @classmethod
    def _by(cls, v: str) -> str:
        return _check(
            v, PRINCIPAL_RE, "by", "a user name or e-mail: letters, digits and . _ @ + - (≤ 100)"
        )

    @field_validator("nonce")
    @classmethod
    def _nonce(cls, v: str) -> str:
        return _check(v, NONCE_RE, "nonce", "16 to 128 characters of A-Z a-z 0-9 _ -")

    @field_validator("expires_at")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        return v.astimezone(UTC)

    def canonical_bytes(self) -> bytes:
        """The bytes a signature covers: sorted-key compact JSON of the payload fields."""
        data = self.model_dump(mode="json", include=set(PAYLOAD_FIELDS))
        return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class SignedDecision(DecisionPayload):
    """A decision and its signature: the JSON `rollway sign` prints."""

    signature: str = Field(
        default="", max_length=16384, description="Armored SSH signature (scheme ssh)."
    )
    scheme: str = Field(default="ssh", pattern=r"^[a-z][a-z0-9-]{0,31}$")

    def payload(self) -> DecisionPayload:
        return DecisionPayload.model_validate(self.model_dump(include=set(PAYLOAD_FIELDS)))


class Refusal(StrEnum):
    """Why a decision was refused (stable names for audit records and tests)."""

    UNSIGNED = "unsigned"
    UNSUPPORTED_SCHEME = "unsupported_scheme"
    MALFORMED_SIGNATURE = "malformed_signature"
    WRONG_NAMESPACE = "wrong_namespace"
    PAYLOAD_MISMATCH = "payload_mismatch"
    UNKNOWN_PRINCIPAL = "unknown_principal"
    WRONG_KEY = "wrong_key"
    WRONG_TARGET = "wrong_target"
    EXPIRED = "expired"
    EXPIRY_TOO_FAR = "expiry_too_far"
    REPLAYED = "replayed"


class Verified(BaseModel):
    """A decision whose signature and freshness hold: `principal` really decided it."""

    model_config = ConfigDict(frozen=True)

    principal: str
    scheme: str
    key: str = Field(default="", description="What vouched for it, e.g. a key's SHA256 print.")
    nonce: str
    expires_at: datetime


class Refused(BaseModel):
    """A refused decision: `reason` for machines, `detail` for people (names the fix)."""

    model_config = ConfigDict(frozen=True)

    reason: Refusal
    detail: str


class DecisionVerifier(Protocol):
    """One signature scheme (ssh today; an OIDC ID-token verifier fits the same seam).

    `check_signature` proves that `decision.by` made `decision.signature` over
    `decision.canonical_bytes()`; freshness, target and replay are checked by
    `verify_decision`. It must be pure: no I/O, no clock other than `now`.
    """

    @property
    def scheme(self) -> str: ...

    def check_signature(self, decision: SignedDecision, now: datetime) -> Verified | Refused: ...


def verify_decision(
    decision: SignedDecision,
    verifiers: Iterable[DecisionVerifier],
    *,
    workflow_id: str,
    action: str,
    now: datetime,
    seen_nonces: Container[str],
    max_ttl: timedelta = DEFAULT_MAX_TTL,
) -> Verified | Refused:
    """Verify that `decision` is a fresh, signed `action` on `workflow_id`.

    `now` is the caller's clock (`workflow.now()` in a workflow); `seen_nonces`
    holds the nonces already accepted (keep each until its decision's
    `expires_at`: a decision can never be accepted later than that).
    """
    if not decision.signature:
        return Refused(
            reason=Refusal.UNSIGNED,
            detail=f"{decision.action} by {decision.by} is not signed: sign it with "
            "`rollway sign` (or `--key`)",
        )
    by_scheme = {v.scheme: v for v in verifiers}
    verifier = by_scheme.get(decision.scheme)
    if verifier is None:
        known = ", ".join(sorted(by_scheme)) or "none"
        return Refused(
            reason=Refusal.UNSUPPORTED_SCHEME,
            detail=f"signature scheme {decision.scheme!r} is not accepted here (accepted: {known})",
        )
    if decision.workflow_id != workflow_id or decision.action != action:
        return Refused(
            reason=Refusal.WRONG_TARGET,
            detail=f"the signed decision is {decision.action} on {decision.workflow_id}, "
            f"not {action} on {workflow_id}: sign this action for this workflow",
        )
    checked = verifier.check_signature(decision, now)
    if isinstance(checked, Refused):
        return checked
    if now >= decision.expires_at:
        return Refused(
            reason=Refusal.EXPIRED,
            detail=f"{decision.action} by {decision.by} expired at "
            f"{decision.expires_at.isoformat()}: sign it again",
        )
    if decision.expires_at - now > max_ttl:
        return Refused(
            reason=Refusal.EXPIRY_TOO_FAR,
            detail=f"{decision.action} by {decision.by} expires at "
            f"{decision.expires_at.isoformat()}, more than {max_ttl} from now: "
            "sign it with a shorter --ttl",
        )
    if decision.nonce in seen_nonces:
        return Refused(
            reason=Refusal.REPLAYED,
            detail=f"{decision.action} by {decision.by} was already used (nonce "
            f"{decision.nonce}): a signed decision counts once; sign a new one",
        )
    return checked


# --- crossing the workflow/activity boundary -------------------------------------------


class VerifySignatureInput(BaseModel):
    """What the `verify_decision_signature` activity checks, at the workflow's `at`."""

    decision: SignedDecision
    at: AwareDatetime


class SignatureVerdict(BaseModel):
    """The activity's answer: the signature holds for `principal`, or why it does not."""

    accepted: bool
    principal: str = ""
    key: str = ""
    reason: Refusal | None = None
    detail: str = ""

    @classmethod
    def of(cls, result: Verified | Refused) -> SignatureVerdict:
        if isinstance(result, Refused):
            return cls(accepted=False, reason=result.reason, detail=result.detail)
        return cls(accepted=True, principal=result.principal, key=result.key)


class VerdictVerifier:
    """A `DecisionVerifier` that replays a verdict already reached (by the activity).

    The workflow asks the activity for the signature, then runs `verify_decision`
    with this verifier so target, expiry and replay are checked there, against
    `workflow.now()` and the nonces it keeps.
    """

    def __init__(self, scheme: str, verdict: SignatureVerdict) -> None:
        self.scheme = scheme
        self.verdict = verdict

    def check_signature(self, decision: SignedDecision, now: datetime) -> Verified | Refused:
        v = self.verdict
        if not v.accepted:
            return Refused(reason=v.reason or Refusal.WRONG_KEY, detail=v.detail)
        return Verified(
            principal=v.principal,
            scheme=self.scheme,
            key=v.key,
            nonce=decision.nonce,
            expires_at=decision.expires_at,
        )
