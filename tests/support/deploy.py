"""What the deploy tests share: the repo's files, validator binaries, the worker's env."""

from __future__ import annotations

import fnmatch
import re
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from tests.support.binaries import require_binary

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.temporal.yml"
WORKER_SERVICE = "rollway-worker"

_ENV_READ = re.compile(
    r"""(?:environ\.get\(|os\.getenv\(|environ\[)\s*["']((?:ROLLWAY|TEMPORAL)_[A-Z0-9_]+)["']"""
)


def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


def run_validator(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a validator from the venv (or PATH); a missing one fails the test loudly."""
    path = require_binary(name, "install the dev group (`uv sync`)")
    return subprocess.run([path, *args], capture_output=True, text=True, cwd=ROOT, timeout=120)


@cache
def worker_modules() -> tuple[Path, ...]:
    """The repo's source files a worker process loads (its imports, both platforms)."""
    code = (
        "import sys, workers.main, rollway.platform.local, rollway.platform.kubernetes\n"
        "print('\\n'.join(getattr(m, '__file__', None) or '' for m in list(sys.modules.values())))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout
    files = {Path(line).resolve() for line in out.splitlines() if line.endswith(".py")}
    return tuple(
        sorted(f for f in files if f.is_relative_to(ROOT) and not f.is_relative_to(ROOT / ".venv"))
    )


@cache
def worker_env_reads() -> dict[str, list[str]]:
    """Rollway's and Temporal's variables (ROLLWAY_*, TEMPORAL_*) the worker reads -> files."""
    found: dict[str, list[str]] = {}
    for f in worker_modules():
        for name in _ENV_READ.findall(f.read_text()):
            found.setdefault(name, []).append(str(f.relative_to(ROOT)))
    return found


DOCKERFILE = (ROOT / "Dockerfile").read_text()


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for ins in instructions():
        if ins[0] == "FROM":
            result.append([])
        if result:
            result[-1].append(ins)
    return result


def dockerignore_allows(path: str) -> bool:
    """Docker's rule: the last matching pattern wins; `!` re-includes."""
    allowed = True
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        if fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/"):
            allowed = negate
    return allowed
