"""Encrypted payloads wired in: the worker and the CLI encrypt when a keyring is configured.

The end-to-end test runs a promotion started by `rollway promote` on the real dev
server, executed by a worker connected by `workers.main.connect` (the worker's own
path: settings, keyring, converter) with the same-named FakeWorld activities, then
reads the history with a client that has no codec and finds no plaintext.
"""

from __future__ import annotations

import asyncio
import json
import stat
import uuid
from collections.abc import AsyncIterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DefaultFailureConverterWithEncodedAttributes
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer
from typer.testing import CliRunner, Result

import workers.main
from rollway import TASK_QUEUE, stack
from rollway.cli import codec_server
from rollway.cli.main import app
from rollway.connection import (
    KEYS_ENV,
    STACK_KEYRING,
    Overrides,
    TemporalConnectionError,
    codec_keys,
    connect_kwargs,
    load_settings,
    plaintext_warning,
)
from rollway.home import write_json
from rollway.security import codec
from rollway.security.codec import ENCODING, AesGcmCodec, CodecError, Keyring, PlaintextCodec
from tests.histories.record import plaintext
from tests.support.cli import PIPELINE, end_running, flat
from tests.support.fake_world import FakeWorld
from workers.registry import WORKFLOWS

# --- which keyring a client uses --------------------------------------------------------


def stack_home(tmp_path: Path, port: int = 7399) -> Path:
    """A home as `rollway up` leaves it: stack.json with Temporal's port, a keyring."""
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    write_json(home / "stack.json", {"temporal": {"port": port}})
    stack.payload_keyring(home)
    return home


def test_explicit_keyring_wins_then_the_stack_keyring_for_its_own_server(tmp_path: Path) -> None:
    assert KEYS_ENV == codec.KEYS_ENV  # one variable, named in two light/heavy modules
    home = stack_home(tmp_path)
    env = {"ROLLWAY_HOME": str(home)}
    assert codec_keys("127.0.0.1:7399", env) == (home / STACK_KEYRING, "`rollway up`")
    # another server never gets the local stack's key (it could not decrypt anyway)
    assert codec_keys("temporal.example:7233", env) == (None, "")
    explicit = tmp_path / "team-keys.json"
    assert codec_keys("temporal.example:7233", env | {KEYS_ENV: str(explicit)}) == (
        explicit,
        KEYS_ENV,
    )
    assert codec_keys("127.0.0.1:7399", {"ROLLWAY_HOME": str(tmp_path / "nothing")}) == (None, "")


def test_settings_pick_the_encrypting_converter(tmp_path: Path) -> None:
    home = stack_home(tmp_path)
    env = {"ROLLWAY_HOME": str(home), "TEMPORAL_CONFIG_FILE": str(tmp_path / "none.toml")}
    s = load_settings(Overrides(address="127.0.0.1:7399"), env=env)
    assert s.encrypted and plaintext_warning(s) is None
    kw = connect_kwargs(s)
    keyring = codec.keyring_of(kw["data_converter"])
    assert keyring == Keyring.load(home / STACK_KEYRING)
    # failure messages and stack traces are encrypted too
    assert isinstance(
        kw["data_converter"].failure_converter, DefaultFailureConverterWithEncodedAttributes
    )

    plain = load_settings(Overrides(address="127.0.0.1:7000"), env=env)
    warning = plaintext_warning(plain)
    assert warning is not None and KEYS_ENV in warning and "plaintext" in warning
    assert isinstance(connect_kwargs(plain)["data_converter"].payload_codec, PlaintextCodec)

    (tmp_path / "broken.json").write_text("{}")
    broken = load_settings(
        Overrides(address="127.0.0.1:7000"), env=env | {KEYS_ENV: str(tmp_path / "broken.json")}
    )
    with pytest.raises(TemporalConnectionError, match=f"broken.json.*from {KEYS_ENV}"):
        connect_kwargs(broken)


def test_up_generates_a_private_keyring_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEYS_ENV, raising=False)
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    path = stack.payload_keyring(home)
    assert path == home / STACK_KEYRING
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = Keyring.load(path)
    assert stack.payload_keyring(home) == path and Keyring.load(path) == first  # kept
    # a rotated keyring is used as it is: the new key encrypts, the old one still decrypts
    first.rotated("local-next").save(path)
    assert stack._current_key(stack.payload_keyring(home)) == "local-next"

    team = tmp_path / "team.json"
    monkeypatch.setenv(KEYS_ENV, str(team))
    with pytest.raises(stack.StackError, match=f"team.json.*unset {KEYS_ENV}"):
        stack.payload_keyring(home)  # named but missing: said, never silently replaced
    Keyring.generate("team-1").save(team)
    assert stack.payload_keyring(home) == team


async def test_a_client_without_keys_refuses_encrypted_payloads_with_the_fix() -> None:
    sealed = await AesGcmCodec(Keyring.generate("k7")).encode(
        [Payload(metadata={"encoding": b"json/plain"}, data=b'"x"')]
    )
    with pytest.raises(CodecError, match=f"key 'k7'.*set {KEYS_ENV}"):
        await PlaintextCodec().decode(sealed)
    plain = [Payload(metadata={"encoding": b"json/plain"}, data=b'"x"')]
    assert await PlaintextCodec().decode(plain) == plain
    assert await PlaintextCodec().encode(plain) == plain


async def test_rotate_codec_key_keeps_old_payloads_readable(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    Keyring.generate("k1").save(path)
    sealed = await AesGcmCodec(Keyring.load(path)).encode([Payload(data=b"old")])
    runner = CliRunner()

    def rotate(*args: str) -> Result:
        return runner.invoke(app, ["rotate-codec-key", "--keys", str(path), *args])

    r = rotate("--id", "k2")
    assert r.exit_code == 0, r.output
    assert "current key k2; decrypts with k1, k2" in flat(r)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    codec = AesGcmCodec(Keyring.load(path))
    assert await codec.decode(sealed) == [Payload(data=b"old")]
    assert (await codec.encode([Payload(data=b"new")]))[0].metadata["encryption-key-id"] == b"k2"
    # staged: every holder gets the key first, then it becomes current
    assert rotate("--id", "k3", "--add-only").exit_code == 0
    staged = Keyring.load(path)
    assert staged.current == "k2" and set(staged.keys) == {"k1", "k2", "k3"}
    assert rotate("--id", "k3").exit_code == 0
    assert Keyring.load(path).current == "k3"
    assert Keyring.load(path).keys == staged.keys
    bad = rotate("--id", "no spaces")
    assert bad.exit_code == 2 and "key id 'no spaces'" in flat(bad)
    path.write_text("{}")
    assert "not a keyring" in flat(rotate())


def test_codec_commands_default_to_the_stack_keyring(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEYS_ENV, raising=False)
    monkeypatch.setenv("ROLLWAY_HOME", str(tmp_path / "nowhere"))
    with pytest.raises(CodecError, match=f"{KEYS_ENV} is not set and `rollway up` made no"):
        codec_server.keyring_file(None)
    home = stack_home(tmp_path)
    monkeypatch.setenv("ROLLWAY_HOME", str(home))
    assert codec_server.keyring_file(None) == home / STACK_KEYRING
    before = Keyring.load(home / STACK_KEYRING)
    r = CliRunner().invoke(app, ["rotate-codec-key", "--id", "local-2"])
    assert r.exit_code == 0, r.output
    assert Keyring.load(home / STACK_KEYRING).current == "local-2"
    assert before.current in Keyring.load(home / STACK_KEYRING).keys
    monkeypatch.setenv(KEYS_ENV, str(tmp_path / "team.json"))
    assert codec_server.keyring_file(None) == tmp_path / "team.json"
    assert codec_server.keyring_file(tmp_path / "flag.json") == tmp_path / "flag.json"


# --- end to end on the dev server ------------------------------------------------------


class Rollway:
    """`rollway ...` in a thread; `env` overlays the test's environment (None unsets)."""

    def __init__(self, env: Mapping[str, str | None]) -> None:
        self.env = env

    async def __call__(self, *args: str) -> Result:
        r = await asyncio.to_thread(CliRunner().invoke, app, list(args), env=self.env)
        assert "Traceback" not in r.output, r.output
        return r


def raw_payloads(history_json: dict[str, object]) -> list[Payload]:
    """Every payload of a history but search attributes and patch markers.

    Both are plaintext by design: search attributes are indexed by the server, and a
    `workflow.patched` marker (written by the SDK's core, not through the data
    converter) holds only the patch's name from the code.
    """
    found: list[Payload] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "metadata" in node and "data" in node:
                found.append(json_format.ParseDict(node, Payload()))
            if node.get("markerName") == "core_patch":
                return
            for k, v in node.items():
                if k != "searchAttributes":
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(history_json)
    return found


async def test_a_worker_without_a_keyring_warns_that_payloads_are_plaintext(
    dev_env: WorkflowEnvironment, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    address = dev_env.client.service_client.config.target_host
    env = {"TEMPORAL_CONFIG_FILE": "/nonexistent/temporal.toml", "ROLLWAY_HOME": str(tmp_path)}
    caplog.set_level("INFO")
    client = await workers.main.connect(settings=load_settings(Overrides(address=address), env=env))
    assert codec.keyring_of(client.data_converter) is None
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(
        "payloads are plaintext on the Temporal server" in w and KEYS_ENV in w for w in warnings
    ), warnings


@pytest.fixture
def keyring_file(tmp_path: Path) -> Path:
    path = tmp_path / "keys.json"
    Keyring.generate("2026-11").rotated("2026-12").save(path)
    return path


@pytest.fixture
async def encrypted_worker(
    dev_env: WorkflowEnvironment, keyring_file: Path, caplog: pytest.LogCaptureFixture
) -> AsyncIterator[tuple[Client, FakeWorld]]:
    """A worker connected the way `python -m workers.main` connects, with a keyring."""
    address = dev_env.client.service_client.config.target_host
    env = {"TEMPORAL_CONFIG_FILE": "/nonexistent/temporal.toml", KEYS_ENV: str(keyring_file)}
    caplog.set_level("INFO")
    client = await workers.main.connect(settings=load_settings(Overrides(address=address), env=env))
    assert "payloads encrypted with key 2026-12, decrypted with 2026-11, 2026-12" in caplog.text
    world = FakeWorld()
    with pytest.MonkeyPatch.context() as mp, ThreadPoolExecutor(max_workers=64) as executor:
        mp.setattr(workers.main, "ACTIVITIES", world.activities())
        async with workers.main.build_worker(client, executor, task_queue=TASK_QUEUE):
            yield client, world


async def test_the_server_stores_no_plaintext_and_the_cli_with_keys_reads_it(
    dev_env: WorkflowEnvironment,
    encrypted_worker: tuple[Client, FakeWorld],
    keyring_file: Path,
    tmp_path: Path,
) -> None:
    client, world = encrypted_worker
    marker = uuid.uuid4().hex[:10]
    version, command = f"v2-{marker}", f"app-{marker}.py"
    reason = f"linker error in module-{marker}"
    world.fail["build"] = reason
    pipeline = tmp_path / "pipelines" / "demo.yaml"
    pipeline.parent.mkdir()
    spec = PIPELINE.format(approval="", steps="{weight: 50, soak: 1s}")
    pipeline.write_text(spec.replace('"app.py"', f'"{command}"'))
    assert command in pipeline.read_text()
    commit = uuid.uuid4().hex[:12]
    wid = f"promote-demo-{commit}"
    base: dict[str, str | None] = {
        "ROLLWAY_TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "TEMPORAL_CONFIG_FILE": "/nonexistent/temporal.toml",
        "TEMPORAL_ADDRESS": None,
        "ROLLWAY_HOME": str(tmp_path / "cli-home"),
        "COLUMNS": "200",
    }
    with_keys = Rollway(base | {KEYS_ENV: str(keyring_file)})
    without_keys = Rollway(base | {KEYS_ENV: None})
    try:
        started = await with_keys(
            *("promote", "--service", "demo", "--version", version, "--commit", commit),
            *("--pipeline", str(pipeline), "--inline", "--by", "ci-bot"),
        )
        assert started.exit_code == 0, started.output
        handle = client.get_workflow_handle(wid)
        async with asyncio.timeout(60):
            while (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                await asyncio.sleep(0.2)

        # The CLI with the keyring shows the version, the state and the reason.
        shown = await with_keys("status", wid)
        assert shown.exit_code == 0, shown.output
        assert version in flat(shown) and reason in flat(shown)
        assert "plaintext" not in shown.output
        as_json = await with_keys("status", wid, "-o", "json")
        doc = json.loads(as_json.stdout)
        assert doc["version"] == version and reason in doc["reason"]

        # What the server stores, read by a client without the codec.
        history = await dev_env.client.get_workflow_handle(wid).fetch_history()
        raw = b"".join(e.SerializeToString() for e in history.events)
        for secret in (marker, command, version, reason, "linker error"):
            assert secret.encode() not in raw, f"{secret!r} is plaintext in the history"
        # (the activity type `load_pipeline` is a name, plaintext by design: not the spec)
        fields = (b'"stage"', b'"outcome"', b'"timeline"', b'"canary"', b'"pipeline')
        for state_field in fields:
            assert state_field not in raw, f"{state_field!r} is plaintext in the history"
        payloads = raw_payloads(json.loads(history.to_json()))
        assert len(payloads) >= 4  # input, activity inputs and results, failure, result
        plain = [p for p in payloads if p.metadata["encoding"] != ENCODING]
        assert not plain, f"plaintext payloads: {plain}"
        assert {p.metadata["encryption-key-id"] for p in payloads} == {b"2026-12"}

        # Recorded for the replay tests, the history is saved decrypted and replays keyless.
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv(KEYS_ENV, str(keyring_file))
            opened = plaintext(history)
        opened_json = json.loads(opened.to_json())
        assert reason.encode() in b"".join(e.SerializeToString() for e in opened.events)
        assert ENCODING not in {p.metadata["encoding"] for p in raw_payloads(opened_json)}
        replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)
        await replayer.replay_workflow(opened)

        # Without the keyring: a warning that payloads are plaintext, and the fix.
        refused = await without_keys("status", wid)
        assert refused.exit_code == 1, refused.output
        text = flat(refused)
        assert "warning: payloads are plaintext on the Temporal server" in text
        assert f"no keyring is configured: set {KEYS_ENV}" in text
        assert marker not in text
    finally:
        await end_running(dev_env.client, [wid])
