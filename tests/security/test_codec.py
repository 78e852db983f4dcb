"""The AES-GCM payload codec: round trip, rotation, tampering, keyring files."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.exceptions import ApplicationError

from rollway.security.codec import (
    ENCODING,
    KEY_ID_METADATA,
    KEYS_ENV,
    AesGcmCodec,
    CodecError,
    Keyring,
    encrypted_data_converter,
)

MARKER = "marker-7f3c-plaintext"


def payload(text: str = MARKER) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps({"m": text}).encode())


async def test_round_trip_hides_data_and_metadata() -> None:
    codec = AesGcmCodec(Keyring.generate("k1"))
    originals = [payload(), payload("second"), Payload(metadata={"encoding": b"binary/null"})]
    encoded = await codec.encode(originals)
    for e in encoded:
        assert e.metadata["encoding"] == ENCODING
        assert e.metadata[KEY_ID_METADATA] == b"k1"
        assert MARKER.encode() not in e.SerializeToString()
        assert b"json/plain" not in e.SerializeToString()
    assert await codec.decode(encoded) == originals
    again = await codec.encode(originals)
    assert again[0].data != encoded[0].data  # a fresh nonce per payload


async def test_rotation_keeps_old_payloads_readable() -> None:
    old = Keyring.generate("2026-06")
    sealed_old = await AesGcmCodec(old).encode([payload()])
    new = old.rotated("2026-12")
    codec = AesGcmCodec(new)
    sealed_new = await codec.encode([payload()])
    assert sealed_new[0].metadata[KEY_ID_METADATA] == b"2026-12"
    assert await codec.decode(sealed_old + sealed_new) == [payload(), payload()]
    only_new = Keyring(current="2026-12", keys={"2026-12": new.keys["2026-12"]})
    with pytest.raises(CodecError, match="key '2026-06', which this keyring does not hold"):
        await AesGcmCodec(only_new).decode(sealed_old)


@pytest.mark.parametrize("where", ["nonce", "ciphertext", "tag", "key-id"])
async def test_tampered_payload_is_refused(where: str) -> None:
    keyring = Keyring(current="a", keys={"a": os.urandom(32), "b": os.urandom(32)})
    codec = AesGcmCodec(keyring)
    [sealed] = await codec.encode([payload()])
    data = bytearray(sealed.data)
    if where == "key-id":  # relabel as another key the keyring holds
        sealed.metadata[KEY_ID_METADATA] = b"b"
    else:
        index = {"nonce": 0, "ciphertext": 20, "tag": len(data) - 1}[where]
        data[index] ^= 0x01
        sealed.data = bytes(data)
    with pytest.raises(CodecError, match="failed authentication"):
        await codec.decode([sealed])


async def test_plaintext_payloads_pass_through_decode() -> None:
    """Histories recorded before encryption still replay."""
    codec = AesGcmCodec(Keyring.generate("k1"))
    assert await codec.decode([payload()]) == [payload()]


def test_keyring_file_round_trip_and_mode(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    keyring = Keyring.generate("k1").rotated("k2")
    keyring.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = Keyring.load(path)
    assert loaded == keyring and loaded.current == "k2"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "not a keyring"),
        ('{"current": "a", "keys": {"a": "!!!"}}', "not a keyring"),
        ('{"current": "a", "keys": {"a": "c2hvcnQ="}}', "has 5 bytes; AES-256 needs 32"),
        ('{"current": "b", "keys": {"a": "' + "A" * 43 + '="}}', "current key 'b' is not"),
        ('{"current": "a/../b", "keys": {"a/../b": "' + "A" * 43 + '="}}', "key id"),
    ],
)
def test_bad_keyrings_are_explained(text: str, message: str) -> None:
    with pytest.raises(CodecError, match=message):
        Keyring.parse(text)


def test_keyring_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEYS_ENV, raising=False)
    with pytest.raises(CodecError, match=f"{KEYS_ENV} is not set"):
        Keyring.from_env()
    path = tmp_path / "k.json"
    Keyring.generate("k1").save(path)
    monkeypatch.setenv(KEYS_ENV, str(path))
    assert Keyring.from_env().current == "k1"


async def test_data_converter_encrypts_values_and_failures() -> None:
    converter = encrypted_data_converter(Keyring.generate("k1"))
    [encoded] = await converter.encode([{"m": MARKER}])
    assert MARKER.encode() not in encoded.SerializeToString()
    assert await converter.decode([encoded], [dict]) == [{"m": MARKER}]
    failure = Failure()
    await converter.encode_failure(ApplicationError(f"boom {MARKER}"), failure)
    assert MARKER.encode() not in failure.SerializeToString()
    assert failure.message == "Encoded failure"
    error = await converter.decode_failure(failure)
    assert str(error) == f"boom {MARKER}"


def test_codec_server_cli_refuses_bad_setups(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from rollway.cli.main import app

    monkeypatch.delenv(KEYS_ENV, raising=False)
    monkeypatch.delenv("ROLLWAY_CODEC_TOKEN", raising=False)
    monkeypatch.setenv("ROLLWAY_HOME", str(tmp_path / "home"))  # no stack keyring there
    runner = CliRunner()
    missing = runner.invoke(app, ["codec-server"])
    assert missing.exit_code == 2 and f"{KEYS_ENV} is not set" in " ".join(missing.output.split())
    path = tmp_path / "k.json"
    Keyring.generate("k1").save(path)
    exposed = runner.invoke(app, ["codec-server", "--keys", str(path), "--host", "0.0.0.0"])
    assert exposed.exit_code == 2
    assert "set ROLLWAY_CODEC_TOKEN" in " ".join(exposed.output.split())
