"""How the CLI and the worker reach Temporal: Temporal's own environment configuration.

One place decides the address, namespace, TLS/mTLS and API key, in this order:

1. explicit overrides (the CLI's global `--address`, `--namespace`, `--profile`);
2. Temporal's environment configuration (`temporalio.envconfig`): the profile
   (`--profile`, else `$TEMPORAL_PROFILE`, else `default`) from the TOML file at
   `$TEMPORAL_CONFIG_FILE` (else `~/.config/temporalio/temporal.toml`), with the
   `TEMPORAL_*` variables on top (`TEMPORAL_ADDRESS`, `TEMPORAL_NAMESPACE`,
   `TEMPORAL_API_KEY`, `TEMPORAL_TLS`, `TEMPORAL_TLS_SERVER_CA_CERT_PATH`,
   `TEMPORAL_TLS_CLIENT_CERT_PATH`, `TEMPORAL_TLS_CLIENT_KEY_PATH`,
   `TEMPORAL_TLS_SERVER_NAME`, ...), exactly as the `temporal` CLI reads them;
3. `$ROLLWAY_TEMPORAL_ADDRESS`, kept for backward compatibility: used when neither
   `TEMPORAL_ADDRESS` nor an explicitly chosen profile gives an address;
4. the dev server `rollway up` recorded in `$ROLLWAY_HOME/stack.json`.

Payloads are encrypted (`rollway.security.codec`) when a keyring is configured:
`$ROLLWAY_CODEC_KEYS` names its file; without it, a client of the local stack's
server uses the keyring `rollway up` generated (`$ROLLWAY_HOME/codec-keys.json`).
Without any, payloads are plaintext on the server and `plaintext_warning` says so.

Every client is created on a Temporal runtime that this module owns and shuts down
before the interpreter finalizes (see `close_runtime`): the SDK's default runtime
lives in a module global, so its Rust threads were torn down during interpreter
finalization and could touch the GIL then, which aborted short-lived processes
(`Fatal Python error: PyGILState_Release`, exit 134) after their work was done.
"""

from __future__ import annotations

import atexit
import gc
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rollway import NAMESPACE

if TYPE_CHECKING:
    from temporalio.client import Client
    from temporalio.converter import DataConverter
    from temporalio.runtime import Runtime
    from temporalio.service import TLSConfig


KEYS_ENV = "ROLLWAY_CODEC_KEYS"
"""Names the payload keyring file (the same name as `rollway.security.codec.KEYS_ENV`)."""
STACK_KEYRING = "codec-keys.json"
"""The keyring `rollway up` generates in `$ROLLWAY_HOME` for its worker and the CLI."""


class TemporalConnectionError(Exception):
    """The connection settings are wrong or the server cannot be reached; says what to fix."""


@dataclass(frozen=True)
class Overrides:
    """What the command line says explicitly (each `None` when not given)."""

    address: str | None = None
    namespace: str | None = None
    profile: str | None = None


@dataclass(frozen=True)
class Settings:
    """Where and how to connect; `source` says where the address came from (for errors)."""

    address: str
    namespace: str = NAMESPACE
    api_key: str | None = field(default=None, repr=False)
    tls: bool | TLSConfig = False
    rpc_metadata: Mapping[str, str] = field(default_factory=dict, repr=False)
    source: str = ""
    codec_keys: Path | None = None
    """The payload keyring file; None: payloads travel and rest in plaintext."""
    codec_keys_source: str = ""

    @property
    def uses_tls(self) -> bool:
        return self.tls is not False

    @property
    def encrypted(self) -> bool:
        return self.codec_keys is not None


def _stack_address() -> str | None:
    """The dev server `rollway up` recorded (imported late: the stack module is heavy)."""
    from rollway.home import home
    from rollway.stack import temporal_address

    return temporal_address(home())


def rollway_home(environ: Mapping[str, str]) -> Path:
    """`$ROLLWAY_HOME` without creating it (a client only reads what `up` wrote there)."""
    return Path(environ.get("ROLLWAY_HOME") or Path.home() / ".rollway").expanduser()


def stack_keyring(address: str, environ: Mapping[str, str]) -> Path | None:
    """The keyring `rollway up` generated, when `address` is that stack's Temporal server."""
    from rollway.home import read_json

    home = rollway_home(environ)
    keys = home / STACK_KEYRING
    state = read_json(home / "stack.json", {})
    temporal = state.get("temporal") if isinstance(state, dict) else None
    if not isinstance(temporal, dict) or not keys.is_file():
        return None
    return keys if address == f"127.0.0.1:{temporal.get('port')}" else None


def codec_keys(address: str, environ: Mapping[str, str]) -> tuple[Path | None, str]:
    """The payload keyring for a client of `address`, and where that choice came from."""
    if explicit := environ.get(KEYS_ENV):
        return Path(explicit).expanduser(), KEYS_ENV
    if stack := stack_keyring(address, environ):
        return stack, "`rollway up`"
    return None, ""


def load_settings(
    overrides: Overrides | None = None, env: Mapping[str, str] | None = None
) -> Settings:
    """Resolve the connection settings (see the module docstring for the order)."""
    from temporalio.envconfig import ClientConfigProfile

    o = overrides or Overrides()
    environ = dict(os.environ if env is None else env)
    profile_name = o.profile or environ.get("TEMPORAL_PROFILE")
    where = environ.get("TEMPORAL_CONFIG_FILE") or "~/.config/temporalio/temporal.toml"
    try:
        profile = ClientConfigProfile.load(profile=o.profile, override_env_vars=environ)
    except Exception as e:  # the bridge raises its own ConfigError type
        raise TemporalConnectionError(
            f"cannot load Temporal profile '{profile_name or 'default'}' from {where}: {e} "
            "(see `temporal config list`, or set TEMPORAL_ADDRESS)"
        ) from None
    try:
        kwargs = profile.to_client_connect_config()  # reads the TLS files
    except OSError as e:
        raise TemporalConnectionError(
            f"cannot read a TLS file of the Temporal connection ({e.filename}): {e.strerror}; "
            "check the TEMPORAL_TLS_*_PATH variables or the profile's tls paths in "
            f"{where}"
        ) from None

    address: str | None
    source: str
    if o.address:
        address, source = o.address, "--address"
    elif environ.get("TEMPORAL_ADDRESS"):
        address, source = environ["TEMPORAL_ADDRESS"], "TEMPORAL_ADDRESS"
    elif profile_name and kwargs.get("target_host"):
        address, source = kwargs["target_host"], f"profile '{profile_name}'"
    elif environ.get("ROLLWAY_TEMPORAL_ADDRESS"):
        address, source = environ["ROLLWAY_TEMPORAL_ADDRESS"], "ROLLWAY_TEMPORAL_ADDRESS"
    elif kwargs.get("target_host"):
        address, source = kwargs["target_host"], "profile 'default'"
    else:
        address, source = _stack_address(), "`rollway up`"
    if not address:
        raise TemporalConnectionError(
            "no Temporal server is configured: run `rollway up` for a local one, or set "
            "TEMPORAL_ADDRESS=host:port (or a profile in Temporal's config file, or --address)"
        )
    keys, keys_source = codec_keys(address, environ)
    return Settings(
        address=address,
        namespace=o.namespace or kwargs.get("namespace") or NAMESPACE,
        api_key=kwargs.get("api_key"),
        tls=kwargs.get("tls", False),
        rpc_metadata=dict(kwargs.get("rpc_metadata", {})),
        source=source,
        codec_keys=keys,
        codec_keys_source=keys_source,
    )


def default_data_converter() -> DataConverter:
    """Rollway's payloads are pydantic models (plaintext; encrypted payloads refused clearly)."""
    import dataclasses

    from temporalio.contrib.pydantic import pydantic_data_converter

    from rollway.security.codec import PlaintextCodec

    return dataclasses.replace(pydantic_data_converter, payload_codec=PlaintextCodec())


def data_converter_for(settings: Settings) -> DataConverter:
    """The encrypting converter when `settings` name a keyring, else the plaintext one."""
    if settings.codec_keys is None:
        return default_data_converter()
    from rollway.security.codec import CodecError, Keyring, encrypted_data_converter

    try:
        keyring = Keyring.load(settings.codec_keys)
    except CodecError as e:
        raise TemporalConnectionError(
            f"{e} (the payload keyring, from {settings.codec_keys_source}; fix the file or "
            f"unset {KEYS_ENV})"
        ) from None
    return encrypted_data_converter(keyring)


def plaintext_warning(settings: Settings) -> str | None:
    """What to tell the user when payloads are not encrypted (None when they are)."""
    if settings.encrypted:
        return None
    return (
        "payloads are plaintext on the Temporal server (specs, versions, state, reasons): "
        f"set {KEYS_ENV} to a keyring file to encrypt them (docs/security.md, "
        "'Encrypted payloads')"
    )


def connect_kwargs(
    settings: Settings, *, data_converter: DataConverter | None = None
) -> dict[str, Any]:
    """Keyword arguments for `Client.connect` (the converter follows `settings.codec_keys`)."""
    kw: dict[str, Any] = {
        "target_host": settings.address,
        "namespace": settings.namespace,
        "tls": settings.tls,
        "data_converter": data_converter or data_converter_for(settings),
        "runtime": runtime(),
    }
    if settings.api_key:
        kw["api_key"] = settings.api_key
    if settings.rpc_metadata:
        kw["rpc_metadata"] = dict(settings.rpc_metadata)
    return kw


def describe_failure(settings: Settings, error: BaseException) -> str:
    """A one-line reason a connection failed, with the likely fix."""
    text = str(error)
    hint = "run `rollway up` for a local server, or check the address and that it is up"
    low = text.lower()
    if any(k in low for k in ("401 unauthorized", "unauthenticated", "403 forbidden")) or (
        "permissiondenied" in low.replace(" ", "")
    ):
        hint = (
            "the server refused the credentials: check TEMPORAL_API_KEY (or the "
            "profile's api_key) and the client certificate"
        )
    elif "certificate" in low or "tls" in low or "ssl" in low or "handshake" in low:
        hint = (
            "TLS failed: set TEMPORAL_TLS_SERVER_CA_CERT_PATH to the CA that signed the "
            "server's certificate (and TEMPORAL_TLS_SERVER_NAME if the name differs), or "
            "the profile's [profile.<name>.tls] server_ca_cert"
        )
    elif settings.uses_tls and ("connection" in low or "transport" in low):
        hint = "is the server speaking TLS on that port? (TEMPORAL_TLS=false disables TLS)"
    return (
        f"cannot reach Temporal at {settings.address}: {hint} "
        f"(address from {settings.source or 'settings'}, namespace {settings.namespace}"
        f"{', TLS' if settings.uses_tls else ''}; {text})"
    )


async def connect(
    settings: Settings | None = None,
    *,
    overrides: Overrides | None = None,
    data_converter: DataConverter | None = None,
) -> Client:
    """A client on Rollway's runtime; `TemporalConnectionError` with the fix when it fails."""
    from temporalio.client import Client

    s = settings or load_settings(overrides)
    try:
        return await Client.connect(**connect_kwargs(s, data_converter=data_converter))
    except RuntimeError as e:
        raise TemporalConnectionError(describe_failure(s, e)) from None


# --- the runtime ----------------------------------------------------------------------

_lock = threading.Lock()
_runtime: Runtime | None = None


def runtime() -> Runtime:
    """The process's Temporal runtime, created on first use and closed at exit."""
    global _runtime
    with _lock:
        if _runtime is None:
            from temporalio.runtime import Runtime, TelemetryConfig

            _runtime = Runtime(telemetry=TelemetryConfig())
            atexit.register(close_runtime)
        return _runtime


def close_runtime() -> None:
    """Drop the runtime while the interpreter is still whole, so its threads end cleanly.

    Runs at exit (atexit handlers run before finalization). Clients hold the runtime
    too, so unreachable ones are collected first; the Rust side then stops its threads
    with the GIL released.
    """
    global _runtime
    gc.collect()
    with _lock:
        _runtime = None
    gc.collect()
