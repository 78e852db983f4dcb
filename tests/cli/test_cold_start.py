"""`rollway --help`, `validate` and `status` import no cloud client and no numpy/scipy.

Each runs in a fresh interpreter; what it imported is read from `sys.modules` after
the command returns. (How fast they start is measured by `bench/cli_start.py`.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("kubernetes", "boto3", "botocore", "numpy", "scipy")

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
print("\\n" + json.dumps({"code": code, "heavy": heavy}))
"""


def imported(*args: str) -> tuple[object, list[str]]:
    """Run `rollway ARGS` in a fresh interpreter: its exit code and the heavy modules loaded."""
    r = subprocess.run(
        [sys.executable, "-c", f"HEAVY = {HEAVY!r}\n{PROBE}", *args],
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
    return doc["code"], doc["heavy"]


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
    code, heavy = imported(*args)
    assert (code or 0) == exit_code
    assert heavy == [], f"`rollway {' '.join(args)}` imported {heavy}"
