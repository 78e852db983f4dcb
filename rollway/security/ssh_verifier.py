"""SSH signatures on decisions, checked against an allowed-signers file as git uses it.

The signature is `ssh-keygen -Y sign -n rollway-decision` over the decision's
canonical bytes (the SSHSIG format); the allowed-signers file has one line per key,

    alice,alice@example.com namespaces="rollway-decision,git" ssh-ed25519 AAAA… alice
    "ops-*" valid-after="20260101" ssh-rsa AAAA…

so people sign decisions with the keys they already sign commits with
(`git config gpg.ssh.allowedSignersFile`). This is `ssh-keygen -Y verify -f FILE
-I <by> -n rollway-decision`, done in Python and without I/O so it also runs in
the workflow sandbox: the file's content is passed in as text.

Library choice: the SSHSIG format and the allowed-signers line syntax come from
`sshsig` (pure Python on `cryptography`); what `sshsig.verify` leaves out (it
accepts any principal) is done here: principal patterns (`*`, `?`, `!negation`,
as OpenSSH matches them), the `namespaces=` restriction, `valid-after` /
`valid-before` (read as UTC when they carry no `Z`), and hash algorithms limited
to sha256/sha512 as `ssh-keygen` does. `sshsig` knows ssh-ed25519 and ssh-rsa
keys; ECDSA, security-key (`sk-…`) and certificate (`cert-authority`) lines are
reported in `unsupported` and never match.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sshsig import InvalidSignature, PublicKey, check_signature
from sshsig.allowed_signers import AllowedSigner
from sshsig.sshsig import SshsigSignature

from rollway.security.decisions import Refusal, Refused, SignedDecision, Verified

NAMESPACE = "rollway-decision"
HASH_ALGORITHMS = (b"sha256", b"sha512")


@dataclass(frozen=True)
class SignerEntry:
    """One usable line of the allowed-signers file."""

    line: int
    principals: tuple[str, ...]
    namespaces: tuple[str, ...] | None
    valid_after: datetime | None
    valid_before: datetime | None
    key: PublicKey


def match_pattern(text: str, pattern: str) -> bool:
    """OpenSSH's glob: `*` any run, `?` one character, everything else literal."""
    rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, text, flags=re.DOTALL) is not None


def match_pattern_list(text: str, patterns: Sequence[str]) -> bool:
    """OpenSSH's `match_pattern_list`: any positive match and no negated (`!`) match."""
    matched = False
    for p in patterns:
        if p.startswith("!"):
            if match_pattern(text, p[1:]):
                return False
        elif match_pattern(text, p):
            matched = True
    return matched


def _parse_time(value: str, line: int, option: str) -> datetime:
    m = re.fullmatch(r"(\d{8})(\d{4})?(\d{2})?(Z)?", value)
    if not m or (m.group(3) and not m.group(2)):
        raise ValueError(
            f"allowed signers line {line}: {option}={value!r} is not YYYYMMDD[HHMM[SS]][Z]"
        )
    digits = m.group(1) + (m.group(2) or "0000") + (m.group(3) or "00")
    return datetime.strptime(digits, "%Y%m%d%H%M%S").replace(tzinfo=UTC)


def parse_allowed_signers(text: str) -> tuple[list[SignerEntry], list[str]]:
    """Usable entries, and a note per line that can never match (unsupported key type…).

    A malformed line is an error (`ValueError` naming the line): a signer file the
    worker cannot read must stop it, not silently trust fewer people.
    """
    entries: list[SignerEntry] = []
    unsupported: list[str] = []
    for number, raw in enumerate(io.StringIO(text), start=1):
        line = raw.strip("\r\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            parsed = AllowedSigner.parse(line.strip())
        except (ValueError, IndexError) as e:
            raise ValueError(f"allowed signers line {number}: {e}") from None
        options = parsed.options or {}
        if "cert-authority" in options:
            unsupported.append(f"line {number}: cert-authority keys are not supported")
            continue
        try:
            key = PublicKey.from_openssh_str(f"{parsed.key_type} {parsed.base64_key}")
        except NotImplementedError:
            unsupported.append(f"line {number}: key type {parsed.key_type} is not supported")
            continue
        except ValueError as e:
            why = str(e) or "not a base64 OpenSSH public key"
            raise ValueError(f"allowed signers line {number}: bad public key ({why})") from None
        namespaces = options.get("namespaces")
        entries.append(
            SignerEntry(
                line=number,
                principals=tuple(p for p in parsed.principals.split(",") if p),
                namespaces=tuple(namespaces.split(",")) if namespaces is not None else None,
                valid_after=_parse_time(options["valid-after"], number, "valid-after")
                if "valid-after" in options
                else None,
                valid_before=_parse_time(options["valid-before"], number, "valid-before")
                if "valid-before" in options
                else None,
                key=key,
            )
        )
    return entries, unsupported


class SshDecisionVerifier:
    """`DecisionVerifier` for `scheme: ssh`, over the allowed-signers file's text."""

    scheme = "ssh"

    def __init__(self, allowed_signers: str, namespace: str = NAMESPACE) -> None:
        self.namespace = namespace
        self.entries, self.unsupported = parse_allowed_signers(allowed_signers)

    def check_signature(self, decision: SignedDecision, now: datetime) -> Verified | Refused:
        who = f"{decision.action} by {decision.by}"
        try:
            outer = SshsigSignature.from_armored(decision.signature)
        except Exception as e:  # any parse failure of attacker-supplied bytes is a refusal
            return _refused(Refusal.MALFORMED_SIGNATURE, f"{who}: unreadable signature ({e})")
        if outer.namespace != self.namespace.encode():
            ns = outer.namespace.decode(errors="replace")
            return _refused(
                Refusal.WRONG_NAMESPACE,
                f"{who} is signed for namespace {ns!r}, not {self.namespace!r}: "
                f"sign with `ssh-keygen -Y sign -n {self.namespace}` (or `rollway sign`)",
            )
        if outer.hash_algo not in HASH_ALGORITHMS:
            return _refused(
                Refusal.MALFORMED_SIGNATURE,
                f"{who}: hash algorithm {outer.hash_algo!r} is not sha256 or sha512",
            )
        try:
            key = check_signature(decision.canonical_bytes(), decision.signature, self.namespace)
        except InvalidSignature:
            return _refused(
                Refusal.PAYLOAD_MISMATCH,
                f"{who}: the signature does not match the decision (altered after signing?)",
            )
        except Exception as e:  # unsupported key type, malformed key or signature blob
            return _refused(Refusal.MALFORMED_SIGNATURE, f"{who}: cannot check signature ({e})")
        mine = [e for e in self.entries if match_pattern_list(decision.by, e.principals)]
        if not mine:
            return _refused(
                Refusal.UNKNOWN_PRINCIPAL,
                f"{decision.by} is not in the allowed signers file: add their public key "
                "there to let them decide",
            )
        print_ = fingerprint(outer.public_key)
        same_key = [e for e in mine if e.key == key]
        if not same_key:
            return _refused(
                Refusal.WRONG_KEY,
                f"{who} is signed with key {print_}, which is not a key of {decision.by} "
                "in the allowed signers file",
            )
        for entry in same_key:
            if entry.namespaces is not None and not match_pattern_list(
                self.namespace, entry.namespaces
            ):
                continue
            if entry.valid_after is not None and now < entry.valid_after:
                continue
            if entry.valid_before is not None and now >= entry.valid_before:
                continue
            return Verified(
                principal=decision.by,
                scheme=self.scheme,
                key=print_,
                nonce=decision.nonce,
                expires_at=decision.expires_at,
            )
        entry = same_key[0]
        if entry.namespaces is not None and not match_pattern_list(
            self.namespace, entry.namespaces
        ):
            return _refused(
                Refusal.WRONG_NAMESPACE,
                f"{who}: key {print_} (allowed signers line {entry.line}) is restricted to "
                f'namespaces="{",".join(entry.namespaces)}"; add {self.namespace} there',
            )
        return _refused(
            Refusal.WRONG_KEY,
            f"{who}: key {print_} (allowed signers line {entry.line}) is not valid at "
            f"{now.isoformat()} (valid-after/valid-before)",
        )


def fingerprint(key_blob: bytes) -> str:
    """`SHA256:…` as `ssh-keygen -l` prints it, from the key's SSH wire encoding.

    (Not `PublicKey.sha256_str()`: that serializes through `cryptography`, which
    imports a module lazily, and a lazy import of `cryptography` inside the workflow
    sandbox fails.)
    """
    return "SHA256:" + base64.b64encode(hashlib.sha256(key_blob).digest()).decode().rstrip("=")


def _refused(reason: Refusal, detail: str) -> Refused:
    return Refused(reason=reason, detail=detail)
