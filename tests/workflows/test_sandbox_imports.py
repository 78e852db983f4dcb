"""The workflow sandbox and the spec load no cloud client and no activity code.

Checked in a fresh interpreter, because this process has long imported them all.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CLIENTS = ("kubernetes", "boto3", "botocore", "activities", "slack_sdk", "httpx")

PROBE = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


@pytest.mark.parametrize(
    "module",
    [
        "rollway.spec",
        "rollway.spec_loader",
        "rollway.models",
        "rollway.release_control",
        "workflows.promotion",
        "workflows.release_control",
    ],
)
def test_module_imports_no_client_library(module: str) -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, module],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    loaded = set(json.loads(out))
    assert module.split(".")[0] in loaded  # the probe really imported it
    assert not loaded & set(CLIENTS), f"{module} loads {sorted(loaded & set(CLIENTS))}"


def test_metrics_and_models_do_not_import_each_other() -> None:
    """`rollway.models` re-exports the analysis payloads; metrics never imports models."""
    import ast

    offenders = []
    paths = [
        *(ROOT / "rollway" / "metrics").rglob("*.py"),
        *(ROOT / "rollway" / "judge").rglob("*.py"),
    ]
    for path in sorted(paths):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "rollway.models":
                offenders.append(str(path.relative_to(ROOT)))
    assert (ROOT / "rollway" / "metrics" / "results.py").exists()
    assert not offenders, offenders
