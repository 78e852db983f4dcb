"""Save workflow histories for the replay tests.

Set ROLLWAY_RECORD_HISTORIES=1 when running the suite to (re)write
`tests/histories/*.json` from the runs that call `save_history`; the replay
test then checks that today's workflow code replays every one of them.

Histories from an encrypting client (the local stack encrypts its payloads) are
saved decrypted, with the keyring of `$ROLLWAY_CODEC_KEYS` or `$ROLLWAY_HOME`, so
the replay test needs no key.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.client import WorkflowHistory

from rollway.connection import KEYS_ENV, STACK_KEYRING, rollway_home
from rollway.security.codec import ENCODING, AesGcmCodec, Keyring

HERE = Path(__file__).resolve().parent


def save_history(history: WorkflowHistory, name: str) -> None:
    """Also keeps the workflow id (`workflowId`): signed decisions name their workflow, so a
    replay under another id would take another path."""
    if os.environ.get("ROLLWAY_RECORD_HISTORIES") == "1":
        data = {"workflowId": history.workflow_id, **json.loads(plaintext(history).to_json())}
        (HERE / f"{name}.json").write_text(json.dumps(data))


def plaintext(history: WorkflowHistory) -> WorkflowHistory:
    """`history` with every encrypted payload decrypted (the events are copied)."""
    codecs = [AesGcmCodec(k) for k in _keyrings()]
    events = []
    for event in history.events:
        copy = type(event)()
        copy.CopyFrom(event)
        _decrypt(copy, codecs)
        events.append(copy)
    return WorkflowHistory(history.workflow_id, events)


def _keyrings() -> list[Keyring]:
    paths = [rollway_home(os.environ) / STACK_KEYRING]
    if explicit := os.environ.get(KEYS_ENV):
        paths.insert(0, Path(explicit))
    return [Keyring.load(p) for p in paths if p.is_file()]


def _open(payload: Payload, codecs: list[AesGcmCodec]) -> Payload:
    if payload.metadata.get("encoding") != ENCODING:
        return payload
    key_id = payload.metadata["encryption-key-id"].decode()
    for codec in codecs:
        if key_id in codec.keyring.keys:
            return codec.decrypt(payload)
    raise AssertionError(f"no keyring at hand holds key {key_id!r}: cannot save it decrypted")


def _decrypt(message: Message, codecs: list[AesGcmCodec]) -> None:
    """Decrypt, in place, every payload anywhere under `message` (maps and lists too)."""
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            if field.message_type.fields_by_name["value"].message_type is None:
                continue
            items = [value[k] for k in value]
        elif isinstance(value, Message):
            items = [value]
        else:  # a repeated field
            items = list(value)
        for item in items:
            if isinstance(item, Payload):
                item.CopyFrom(_open(item, codecs))
            else:
                _decrypt(item, codecs)
