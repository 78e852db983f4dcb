"""`rollway --help`, `validate` and `status` import no cloud client and no numpy/scipy.

Each runs in a fresh interpreter; what it imported is read from `sys.modules` after
the command returns. Commands that need no server load no Temporal SDK, HTTP server
or crypto either. (How fast they start is measured by `bench/cli_start.py`.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("kubernetes", "boto3", "botocore", "numpy", "scipy")
SERVER = ("temporalio", "aiohttp", "cryptography")

PROBE = """
import json, sys
from rollway.cli.main import app
if sys.argv[1:2] == ["status"] and "--answered" in sys.argv:
    # what `status` loads once a server answers: the state's model and the renderer
    sys.argv.remove("--answered")
    import rollway.cli.status, rollway.models
try:
    app(sys.argv[1:], prog_name="rollway")
except SystemExit as e:
    code = e.code
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(HEAVY))
server = sorted({m.split(".")[0] for m in sys.modules} & set(SERVER))
print("\\n" + json.dumps({"code": code, "heavy": heavy, "server": server}))
"""


def imported(*args: str) -> tuple[object, list[str], list[str]]:
    """Run `rollway ARGS` in a fresh interpreter: exit code, heavy and server modules loaded."""
    r = subprocess.run(
        [sys.executable, "-c", f"HEAVY = {HEAVY!r}\nSERVER = {SERVER!r}\n{PROBE}", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={
            "PATH": "/usr/bin:/bin",
            "ROLLWAY_TEMPORAL_ADDRESS": "127.0.0.1:1",
            "TEMPORAL_CONFIG_FILE": "/nonexistent/temporal.toml",
            "ROLLWAY_HOME": "/nonexistent/rollway-home",
        },
    )
    last = r.stdout.strip().splitlines()[-1]
    doc = json.loads(last)
    return doc["code"], doc["heavy"], doc["server"]


@pytest.mark.parametrize(
    ("args", "exit_code"),
    [
        (("--help",), 0),
        (("status", "--help"), 0),
        (("validate", "pipelines/demo.yaml"), 0),
        # nothing listens on port 1: status loads everything it needs, then fails to connect
        (("status", "promote-demo-abc1234"), 1),
        (("status", "promote-demo-abc1234", "--answered"), 1),
    ],
    ids=["help", "status-help", "validate", "status", "status-answered"],
)
def test_fast_commands_import_no_cloud_client_or_numpy(
    args: tuple[str, ...], exit_code: int
) -> None:
    code, heavy, _ = imported(*args)
    assert (code or 0) == exit_code
    assert heavy == [], f"`rollway {' '.join(args)}` imported {heavy}"


@pytest.mark.parametrize(
    "args",
    [("--help",), ("status", "--help"), ("sign", "--help"), ("validate", "pipelines/demo.yaml")],
    ids=["help", "status-help", "sign-help", "validate"],
)
def test_commands_without_a_server_load_no_sdk_http_server_or_crypto(
    args: tuple[str, ...],
) -> None:
    code, _, server = imported(*args)
    assert (code or 0) == 0
    assert server == [], f"`rollway {' '.join(args)}` imported {server}"


def test_sign_help_names_what_the_security_module_accepts() -> None:
    """`rollway sign`'s help is literal (its models load only when it runs): no drift."""
    from rollway.cli import sign
    from rollway.durations import parse_duration
    from rollway.security import signing
    from rollway.security.decisions import SIMPLE_ACTIONS

    expected = f"{', '.join(SIMPLE_ACTIONS)}, or override:<kind>."
    assert expected == sign.ACTIONS_HELP
    assert sign.KEY_ENV == signing.KEY_ENV
    assert parse_duration(sign.DEFAULT_TTL) == signing.DEFAULT_TTL
