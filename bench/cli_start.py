"""How fast `rollway` starts: median wall time of fresh processes, against a baseline.

Run: ``uv run python bench/cli_start.py [--runs N]`` from the repository root.

Each command runs N times in a fresh interpreter (bytecode already cached: one warm-up
run first); the rounds interleave the commands, so a busy moment hits them all. The
baseline is ``python -c "import typer, pydantic, yaml"``: the floor of any typer +
pydantic CLI; the goal (issue 15) is every fast command within 1.5x of it.

Two more floors, measured in the same run, say what no change to Rollway can remove:
``typer.rich_utils`` is what typer imports to draw any ``--help`` (rich, markdown-it,
pygments); ``temporalio.client`` is what any command that talks to Temporal loads.
``status`` runs against an address where nothing listens, so it measures loading and
the connection attempt, not a server's answer.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
RUN = [PY, "-m", "rollway.cli.main"]

BASELINE = "import typer, pydantic, yaml"
CASES: list[tuple[str, list[str]]] = [
    (f"baseline: {BASELINE}", [PY, "-c", BASELINE]),
    ("floor: + typer.rich_utils (any --help)", [PY, "-c", f"{BASELINE}, typer.rich_utils"]),
    ("floor: + temporalio.client (any server)", [PY, "-c", f"{BASELINE}, temporalio.client"]),
    ("rollway --help", [*RUN, "--help"]),
    ("rollway validate pipelines/demo.yaml", [*RUN, "validate", "pipelines/demo.yaml"]),
    ("rollway status (no server)", [*RUN, "status", "promote-demo-abc1234"]),
]


def once(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    env = {**os.environ, "ROLLWAY_TEMPORAL_ADDRESS": "127.0.0.1:1", "COLUMNS": "100"}
    for name in ("TEMPORAL_ADDRESS", "TEMPORAL_PROFILE", "ROLLWAY_CODEC_KEYS"):
        env.pop(name, None)
    for _, argv in CASES:
        once(argv, env)  # warm the bytecode cache
    times: list[list[float]] = [[] for _ in CASES]
    for _ in range(args.runs):  # rounds interleave the cases: a busy moment hits them all
        for i, (_, argv) in enumerate(CASES):
            times[i].append(once(argv, env))
    medians = [statistics.median(t) for t in times]
    base = medians[0]
    print(f"{'command':<44} {'median':>9} {'vs baseline':>12}")
    for (name, _), m in zip(CASES, medians, strict=True):
        print(f"{name:<44} {m * 1000:>7.0f}ms {m / base:>11.2f}x")
    print(f"({args.runs} runs each, {os.cpu_count()} CPUs, python {sys.version.split()[0]})")


if __name__ == "__main__":
    main()
