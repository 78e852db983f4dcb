"""Sign decisions with `ssh-keygen -Y sign`: a key file or a key held by ssh-agent.

`ssh-keygen` does the signing so every key the user's OpenSSH can use works
(passphrases, agents, hardware keys), and nothing here handles private keys.
Give the private key (`--key ~/.ssh/id_ed25519`), or the public key
(`--key ~/.ssh/id_ed25519.pub`) when the private key lives in ssh-agent:
`ssh-keygen` then asks the agent (`SSH_AUTH_SOCK`).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rollway.security.decisions import DecisionPayload, SignedDecision
from rollway.security.ssh_verifier import NAMESPACE

DEFAULT_TTL = timedelta(minutes=15)
KEY_ENV = "ROLLWAY_SIGNING_KEY"
DEFAULT_KEYS = ("id_ed25519", "id_rsa")


class SigningError(Exception):
    """Signing failed; the message says why and what to do."""


def new_payload(
    action: str,
    workflow_id: str,
    by: str,
    *,
    comment: str = "",
    ttl: timedelta = DEFAULT_TTL,
    now: datetime | None = None,
) -> DecisionPayload:
    """A decision expiring `ttl` from now, with a fresh random nonce."""
    start = (now or datetime.now(UTC)).replace(microsecond=0)
    return DecisionPayload(
        workflow_id=workflow_id,
        action=action,
        by=by,
        comment=comment,
        expires_at=start + ttl,
        nonce=secrets.token_urlsafe(18),
    )


def default_key() -> Path:
    """`$ROLLWAY_SIGNING_KEY`, else ~/.ssh/id_ed25519 or ~/.ssh/id_rsa (the first that exists)."""
    if os.environ.get(KEY_ENV):
        return Path(os.environ[KEY_ENV]).expanduser()
    for name in DEFAULT_KEYS:
        for candidate in (Path.home() / ".ssh" / name, Path.home() / ".ssh" / f"{name}.pub"):
            if candidate.exists():
                return candidate
    raise SigningError(
        f"no signing key: pass --key PATH (a private key, or a public key whose private key is "
        f"in ssh-agent), or set {KEY_ENV}"
    )


def ssh_keygen() -> str:
    path = shutil.which("ssh-keygen")
    if path is None:
        raise SigningError(
            "ssh-keygen is not installed: `apt-get install -y openssh-client` (./dev does it)"
        )
    return path


def sign_bytes(data: bytes, key: Path, namespace: str = NAMESPACE, timeout_s: float = 120) -> str:
    """The armored SSH signature of `data` by `key` (file, or public key in ssh-agent)."""
    if not key.exists():
        raise SigningError(f"--key {key}: file not found")
    try:
        proc = subprocess.run(
            [ssh_keygen(), "-q", "-Y", "sign", "-n", namespace, "-f", str(key)],
            input=data,
            capture_output=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise SigningError(f"ssh-keygen did not sign within {timeout_s:.0f}s") from None
    armored = proc.stdout.decode(errors="replace")
    if proc.returncode != 0 or "BEGIN SSH SIGNATURE" not in armored:
        why = proc.stderr.decode(errors="replace").strip() or f"exit code {proc.returncode}"
        raise SigningError(f"ssh-keygen could not sign with {key}: {why}")
    return armored.strip() + "\n"


def sign_decision(payload: DecisionPayload, key: Path) -> SignedDecision:
    """`payload` signed by `key` under the rollway-decision namespace."""
    signature = sign_bytes(payload.canonical_bytes(), key)
    return SignedDecision(**payload.model_dump(), signature=signature, scheme="ssh")


def agent_public_key(folder: Path) -> Path | None:
    """The first key ssh-agent holds, written as `agent.pub` in `folder` (None: no agent)."""
    if not os.environ.get("SSH_AUTH_SOCK"):
        return None
    ssh_add = shutil.which("ssh-add")
    if ssh_add is None:
        return None
    try:
        proc = subprocess.run(
            [ssh_add, "-L"], capture_output=True, timeout=10, check=False, text=True
        )
    except subprocess.TimeoutExpired:
        return None
    lines = [line for line in proc.stdout.splitlines() if line.startswith(("ssh-", "ecdsa-"))]
    if proc.returncode != 0 or not lines:
        return None
    path = folder / "agent.pub"
    path.write_text(lines[0] + "\n")
    return path


def find_key(folder: Path) -> Path | None:
    """A key to sign with: `$ROLLWAY_SIGNING_KEY`, ssh-agent's first key, ~/.ssh defaults."""
    if os.environ.get(KEY_ENV):
        return Path(os.environ[KEY_ENV]).expanduser()
    agent = agent_public_key(folder)
    if agent is not None:
        return agent
    try:
        return default_key()
    except SigningError:
        return None
