"""`rollway codec-server`: decrypt payloads for the Temporal UI and `temporal --codec-endpoint`.

aiohttp, the Temporal SDK and the codec are imported when the command runs, so
`rollway --help` does not load them.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Annotated

import typer

from rollway.cli.common import UserError, err, user_errors
from rollway.connection import KEYS_ENV, STACK_KEYRING, rollway_home

TOKEN_ENV = "ROLLWAY_CODEC_TOKEN"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def keyring_file(keys: Path | None) -> Path:
    """`--keys`, else `$ROLLWAY_CODEC_KEYS`, else the keyring `rollway up` made."""
    from rollway.security.codec import CodecError

    if keys is not None:
        return keys
    if explicit := os.environ.get(KEYS_ENV):
        return Path(explicit).expanduser()
    stack = rollway_home(os.environ) / STACK_KEYRING
    if stack.is_file():
        return stack
    raise CodecError(
        f"{KEYS_ENV} is not set and `rollway up` made no keyring ({stack}): pass --keys or "
        f"point {KEYS_ENV} to the codec keyring file"
    )


def codec_server(
    keys: Annotated[
        Path | None,
        typer.Option(help=f"Keyring file (default: ${KEYS_ENV}, else the one `rollway up` made)."),
    ] = None,
    host: Annotated[str, typer.Option(help="Listen address (loopback unless a token is set).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="Listen port.")] = 8081,
    ui_origin: Annotated[
        list[str] | None,
        typer.Option(help="Temporal UI origin allowed by CORS (repeatable)."),
    ] = None,
) -> None:
    """Serve Temporal's codec-server protocol (POST /encode, /decode) with the payload keys.

    The Temporal UI (Settings → Codec Server, or `--ui-codec-endpoint`) and
    `temporal workflow show --codec-endpoint http://127.0.0.1:8081` then show plaintext.
    Set ROLLWAY_CODEC_TOKEN to require `Authorization: Bearer <token>`
    (`temporal … --codec-auth "Bearer $ROLLWAY_CODEC_TOKEN"`).
    """
    from aiohttp import web

    from rollway.security.codec import AesGcmCodec, CodecError, Keyring
    from rollway.security.codec_server import DEFAULT_UI_ORIGINS, codec_app

    with user_errors():
        try:
            keyring = Keyring.load(keyring_file(keys))
        except CodecError as e:
            raise UserError(str(e), 2) from None
        token = os.environ.get(TOKEN_ENV) or None
        if not _loopback(host) and token is None:
            raise UserError(
                f"--host {host}: anyone who reaches the codec server reads every payload; "
                f"listen on 127.0.0.1, or set {TOKEN_ENV} to require a bearer token",
                2,
            )
        origins = ui_origin or list(DEFAULT_UI_ORIGINS)
    app = codec_app(AesGcmCodec(keyring), origins=origins, token=token)
    guard = "bearer token required" if token else f"no token ({TOKEN_ENV} unset)"
    err().print(
        f"codec server on http://{host}:{port} (keys {', '.join(sorted(keyring.keys))}, "
        f"current {keyring.current}; {guard}; CORS for {', '.join(origins)})"
    )
    web.run_app(app, host=host, port=port, print=None)


def rotate_codec_key(
    keys: Annotated[
        Path | None,
        typer.Option(help=f"Keyring file (default: ${KEYS_ENV}, else the one `rollway up` made)."),
    ] = None,
    key_id: Annotated[
        str | None,
        typer.Option("--id", help="Id of the new key (default: k-<UTC date and time>)."),
    ] = None,
    add_only: Annotated[
        bool,
        typer.Option(
            "--add-only", help="Add the key without making it current (stage it on every holder)."
        ),
    ] = False,
) -> None:
    """Add a payload key and make it current; the old keys stay, so old payloads still decrypt.

    With several holders of the keyring (workers, CI, people), stage first: run with
    --add-only and ship the file to all of them, then run with --id <that id> to make
    it current. A worker started by `rollway up` is restarted by the next `up`.
    """
    import time

    from rollway.security.codec import CodecError, Keyring

    with user_errors():
        try:
            path = keyring_file(keys)
            keyring = Keyring.load(path)
            new_id = key_id or time.strftime("k-%Y%m%d-%H%M%S", time.gmtime())
            if new_id in keyring.keys:
                if add_only:
                    raise CodecError(f"key {new_id!r} is in {path} already")
                keyring = Keyring(current=new_id, keys=keyring.keys)  # make a staged key current
            else:
                rotated = keyring.rotated(new_id)
                keyring = (
                    Keyring(current=keyring.current, keys=rotated.keys) if add_only else rotated
                )
        except CodecError as e:
            raise UserError(str(e), 2) from None
        keyring.save(path)
    err().print(
        f"{path}: current key {keyring.current}; decrypts with {', '.join(sorted(keyring.keys))}"
    )
