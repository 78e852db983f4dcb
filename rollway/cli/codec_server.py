"""`rollway codec-server`: decrypt payloads for the Temporal UI and `temporal --codec-endpoint`."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Annotated

import typer
from aiohttp import web

from rollway.cli.common import UserError, err, user_errors
from rollway.security.codec import KEYS_ENV, AesGcmCodec, CodecError, Keyring
from rollway.security.codec_server import DEFAULT_UI_ORIGINS, codec_app

TOKEN_ENV = "ROLLWAY_CODEC_TOKEN"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def codec_server(
    keys: Annotated[Path | None, typer.Option(help=f"Keyring file (default: ${KEYS_ENV}).")] = None,
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
    with user_errors():
        try:
            keyring = Keyring.load(keys) if keys is not None else Keyring.from_env()
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
