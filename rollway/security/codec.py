"""Encrypted payloads: an AES-GCM `PayloadCodec` with key ids, so keys can rotate.

Every payload the SDK sends (workflow and activity inputs and results, signals,
queries, updates, memos, heartbeat details, and failure messages and stack traces)
is serialized, encrypted with the keyring's current key and stored as

    metadata: {encoding: binary/encrypted, encryption-key-id: <id>}
    data:     12-byte nonce || AES-256-GCM(serialized original payload, aad=<id>)

Decoding accepts every key in the keyring, so old histories stay readable after a
rotation; a payload without `binary/encrypted` passes through unchanged (histories
recorded before encryption was switched on). Search attributes are not payloads the
codec sees: they stay plaintext on the server by design (they are indexed).

The keyring is a JSON file, never a payload; `ROLLWAY_CODEC_KEYS` names it:

    {"current": "2026-12", "keys": {"2026-12": "<base64 of 32 random bytes>",
                                    "2026-06": "<the previous key, still decodes>"}}

Make a key with `openssl rand -base64 32`. Keep the file mode 0600.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import os
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)

ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
KEYS_ENV = "ROLLWAY_CODEC_KEYS"
KEY_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
NONCE_BYTES = 12


class CodecError(Exception):
    """A payload that cannot be decrypted, or a keyring that cannot be used."""


@dataclass(frozen=True)
class Keyring:
    """Named 256-bit keys; `current` encrypts, every key decrypts."""

    current: str
    keys: Mapping[str, bytes] = field(repr=False)

    def __post_init__(self) -> None:
        if self.current not in self.keys:
            raise CodecError(f"keyring: current key {self.current!r} is not in keys")
        for key_id, key in self.keys.items():
            if not KEY_ID_RE.match(key_id):
                raise CodecError(
                    f"keyring: key id {key_id!r} is not letters, digits and . _ - (≤ 64)"
                )
            if len(key) != 32:
                raise CodecError(
                    f"keyring: key {key_id!r} has {len(key)} bytes; AES-256 needs 32 "
                    "(make one with `openssl rand -base64 32`)"
                )

    @classmethod
    def generate(cls, key_id: str) -> Keyring:
        return cls(current=key_id, keys={key_id: secrets.token_bytes(32)})

    def rotated(self, new_id: str) -> Keyring:
        """A new current key; the old ones stay for decoding."""
        if new_id in self.keys:
            raise CodecError(f"keyring: key id {new_id!r} exists already")
        return Keyring(current=new_id, keys={**self.keys, new_id: secrets.token_bytes(32)})

    @classmethod
    def parse(cls, text: str, source: str = "keyring") -> Keyring:
        try:
            data = json.loads(text)
            current = data["current"]
            raw = data["keys"]
            if not isinstance(current, str) or not isinstance(raw, dict):
                raise TypeError("'current' must be a string and 'keys' an object")
            keys = {str(k): base64.b64decode(v, validate=True) for k, v in raw.items()}
        except (ValueError, KeyError, TypeError, binascii.Error) as e:
            raise CodecError(
                f'{source}: not a keyring ({e!s}); expected {{"current": "<id>", '
                '"keys": {"<id>": "<base64 of 32 bytes>"}}'
            ) from None
        return cls(current=current, keys=keys)

    @classmethod
    def load(cls, path: Path) -> Keyring:
        try:
            text = path.read_text()
        except OSError as e:
            raise CodecError(f"keyring {path}: {e.strerror or e}") from None
        return cls.parse(text, source=str(path))

    @classmethod
    def from_env(cls) -> Keyring:
        """The keyring `$ROLLWAY_CODEC_KEYS` points to."""
        path = os.environ.get(KEYS_ENV)
        if not path:
            raise CodecError(f"{KEYS_ENV} is not set: point it to the codec keyring file")
        return cls.load(Path(path).expanduser())

    def dumps(self) -> str:
        keys = {k: base64.b64encode(v).decode() for k, v in self.keys.items()}
        return json.dumps({"current": self.current, "keys": keys}, indent=2) + "\n"

    def save(self, path: Path) -> None:
        """Write with mode 0600 (atomically)."""
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.dumps())
        tmp.replace(path)


class AesGcmCodec(PayloadCodec):
    """Encrypts with the keyring's current key; decrypts with any key it holds."""

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring
        self._ciphers = {k: AESGCM(v) for k, v in keyring.keys.items()}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        key_id = self.keyring.current
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._ciphers[key_id].encrypt(nonce, payload.SerializeToString(), key_id.encode())
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID_METADATA: key_id.encode()},
            data=nonce + sealed,
        )

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        key_id = payload.metadata.get(KEY_ID_METADATA, b"").decode(errors="replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            known = ", ".join(sorted(self._ciphers))
            raise CodecError(
                f"payload encrypted with key {key_id!r}, which this keyring does not hold "
                f"(it holds {known}): add the old key to the keyring to read it"
            )
        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        try:
            plain = cipher.decrypt(nonce, sealed, key_id.encode())
        except InvalidTag:
            raise CodecError(
                f"payload encrypted with key {key_id!r} failed authentication: "
                "it was altered, or the key under that id changed"
            ) from None
        out = Payload()
        out.ParseFromString(plain)
        return out


class PlaintextCodec(PayloadCodec):
    """No keyring: payloads pass unchanged, and an encrypted one is refused with the fix.

    Without it, a client with no keyring would fail on an encrypted payload with the
    pydantic converter's "unknown encoding binary/encrypted".
    """

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        for p in payloads:
            if p.metadata.get("encoding") == ENCODING:
                key_id = p.metadata.get(KEY_ID_METADATA, b"").decode(errors="replace")
                raise CodecError(
                    f"this payload is encrypted (key {key_id!r}) and no keyring is "
                    f"configured: set {KEYS_ENV} to the keyring file that holds that key"
                )
        return list(payloads)


def encrypted_data_converter(
    keyring: Keyring, base: DataConverter = pydantic_data_converter
) -> DataConverter:
    """`base` (pydantic) with the AES-GCM codec and failure messages encoded too."""
    return dataclasses.replace(
        base,
        payload_codec=AesGcmCodec(keyring),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def keyring_of(converter: DataConverter) -> Keyring | None:
    """The keyring a converter encrypts with (None when its payloads are plaintext)."""
    codec = converter.payload_codec
    return codec.keyring if isinstance(codec, AesGcmCodec) else None
