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
import resource
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


def once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    env = {**os.environ, "ROLLWAY_TEMPORAL_ADDRESS": "127.0.0.1:1", "COLUMNS": "100"}
    for name in ("TEMPORAL_ADDRESS", "TEMPORAL_PROFILE", "ROLLWAY_CODEC_KEYS"):
        env.pop(name, None)
    for _, argv in CASES:
        once(argv, env)  # warm the bytecode cache
    walls: list[list[float]] = [[] for _ in CASES]
    cpus: list[list[float]] = [[] for _ in CASES]
    for _ in range(args.runs):  # rounds interleave the cases: a busy moment hits them all
        for i, (_, argv) in enumerate(CASES):
            wall, cpu = once(argv, env)
            walls[i].append(wall)
            cpus[i].append(cpu)
    wall_m = [statistics.median(t) for t in walls]
    cpu_m = [statistics.median(t) for t in cpus]
    print(f"{'command':<44} {'wall':>8} {'ratio':>6} {'cpu':>8} {'ratio':>6}")
    for (name, _), w, c in zip(CASES, wall_m, cpu_m, strict=True):
        print(
            f"{name:<44} {w * 1000:>6.0f}ms {w / wall_m[0]:>5.2f}x "
            f"{c * 1000:>6.0f}ms {c / cpu_m[0]:>5.2f}x"
        )
    print(
        f"(medians of {args.runs} runs each; ratio: against the baseline in this run; "
        f"cpu: user + system, steadier than wall time on a busy machine; "
        f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}, python {sys.version.split()[0]})"
    )


if __name__ == "__main__":
    main()
