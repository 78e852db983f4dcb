"""`rollway sign`: a signed decision as JSON, for `temporal workflow signal/update` or the UI.

The decision models and the SSH signing code are imported when the command runs,
so `rollway --help` does not build them; the help's names are literals that
tests/cli/test_cold_start.py checks against `rollway.security`.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rollway.cli.common import UserError, default_user, user_errors

if TYPE_CHECKING:
    from rollway.security.decisions import SignedDecision

ACTIONS_HELP = (
    "approve, reject, rollback, abort, pause, resume, incident-declare, incident-resolve, "
    "freeze, unfreeze, or override:<kind>."
)
"""`rollway.security.decisions.SIMPLE_ACTIONS`, or override:<kind>."""
KEY_ENV = "ROLLWAY_SIGNING_KEY"
"""`rollway.security.signing.KEY_ENV`."""
DEFAULT_TTL = "15m"
"""`rollway.security.signing.DEFAULT_TTL`, formatted."""


def sign(
    action: Annotated[
        str,
        typer.Argument(help=ACTIONS_HELP),
    ],
    workflow_id: Annotated[
        str, typer.Argument(help="The workflow the decision is for (promote-… or release-…).")
    ],
    by: Annotated[
        str | None,
        typer.Option(help="Who decides: your principal in the allowed signers file."),
    ] = None,
    comment: Annotated[str, typer.Option(help="Comment or reason, signed too.")] = "",
    key: Annotated[
        Path | None,
        typer.Option(
            help=f"Private key, or public key whose private key is in ssh-agent "
            f"(default: ${KEY_ENV}, ~/.ssh/id_ed25519, ~/.ssh/id_rsa)."
        ),
    ] = None,
    ttl: Annotated[
        str, typer.Option(help="How long the signed decision stays usable.")
    ] = DEFAULT_TTL,
) -> None:
    """Sign a decision with your SSH key and print it as JSON.

    Paste the JSON as the input of `temporal workflow signal|update --name <action>`
    or into the Temporal UI's signal form.
    """
    from pydantic import ValidationError

    from rollway.durations import format_duration, parse_duration
    from rollway.security.decisions import DEFAULT_MAX_TTL
    from rollway.security.signing import SigningError, default_key, new_payload, sign_decision

    with user_errors():
        try:
            lifetime = parse_duration(ttl)
        except ValueError as e:
            raise UserError(f"--ttl: {e}", 2) from None
        if lifetime.total_seconds() <= 0 or lifetime > DEFAULT_MAX_TTL:
            raise UserError(
                f"--ttl {ttl}: must be more than 0 and at most "
                f"{format_duration(DEFAULT_MAX_TTL)} (workers refuse longer-lived decisions)",
                2,
            )
        try:
            payload = new_payload(
                action, workflow_id, by or default_user(), comment=comment, ttl=lifetime
            )
        except ValidationError as e:
            first = e.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "input"
            raise UserError(f"{field}: {first['msg'].removeprefix('Value error, ')}", 2) from None
        try:
            signed = sign_decision(payload, key or default_key())
        except SigningError as e:
            raise UserError(str(e)) from None
    typer.echo(signed.model_dump_json())


# --- signing what the other commands send -----------------------------------------------

KeyOpt = Annotated[
    Path | None,
    typer.Option(
        "--key",
        help="Sign with this SSH key (private, or public with the private key in ssh-agent).",
    ),
]
UnsignedOpt = Annotated[
    bool, typer.Option("--unsigned", help="Send the decision unsigned, even with a key at hand.")
]


def decision_signature(
    action: str,
    workflow_id: str,
    by: str,
    comment: str,
    *,
    key: Path | None,
    unsigned: bool,
    refused_unsigned_in: list[str],
) -> SignedDecision | None:
    """The signature a CLI decision carries, or None to send it unsigned.

    `--unsigned`: none. `--key` or `$ROLLWAY_SIGNING_KEY`: signed with it. Otherwise
    signed (ssh-agent's first key, else ~/.ssh/id_ed25519 or id_rsa) when the target
    refuses unsigned decisions (`refused_unsigned_in` names where), unsigned when it
    accepts them; no key where one is needed is a clear error.
    """
    if unsigned:
        if refused_unsigned_in:
            where = ", ".join(refused_unsigned_in)
            raise UserError(
                f"refused: {where} refuses unsigned decisions; drop --unsigned to sign with "
                "your SSH key (ssh-agent or --key)"
            )
        return None
    if key is None and not os.environ.get(KEY_ENV) and not refused_unsigned_in:
        return None
    from pydantic import ValidationError

    from rollway.security.signing import SigningError, find_key, new_payload, sign_decision

    with tempfile.TemporaryDirectory(prefix="rollway-sign-") as tmp:
        chosen = key or find_key(Path(tmp))
        if chosen is None:
            where = ", ".join(refused_unsigned_in)
            raise UserError(
                f"{where} refuses unsigned decisions and no SSH key was found to sign "
                f"{action}: pass --key PATH, set {KEY_ENV}, or add your key to ssh-agent "
                "(its public key must be in the worker's allowed signers file)"
            )
        try:
            payload = new_payload(action, workflow_id, by, comment=comment)
        except ValidationError as e:
            first = e.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "input"
            raise UserError(f"{field}: {first['msg'].removeprefix('Value error, ')}", 2) from None
        try:
            return sign_decision(payload, chosen)
        except SigningError as e:
            raise UserError(str(e)) from None
