"""The CLI as scripts and CI use it: `-o json|yaml`, `promote --wait` exit codes, `list`,
`get`, unwrapped output off a terminal, a live view that fits the terminal, and
`status --json` that exits 0 every time.

Real `rollway` processes run against the dev server; the worker (FakeWorld
activities) runs on this test's event loop and answers their queries.
"""

from __future__ import annotations

import asyncio
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio.client import Client
from typer.testing import CliRunner

from rollway.cli.main import app
from rollway.models import Outcome, PromotionState, Stage
from tests.support.cli import Cli, wait_for

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Ran:
    code: int
    stdout: str
    stderr: str


def proc_env(cli: Cli) -> dict[str, str]:
    """The CLI fixture's settings for a real process (no terminal width given)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
    env.update(cli.env)
    env.pop("COLUMNS", None)
    return env


async def rollway(cli: Cli, *args: str, cwd: Path | None = None) -> Ran:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "rollway.cli.main",
        *args,
        env=proc_env(cli),
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 240)
    assert proc.returncode is not None
    return Ran(proc.returncode, out.decode(), err.decode())


def promote_args(pipeline: Path, commit: str, *extra: str) -> list[str]:
    """A promotion of a version of its own (one production already runs ends at once)."""
    return [
        "promote",
        "--service",
        "demo",
        "--version",
        version_of(commit),
        "--commit",
        commit,
        "--pipeline",
        str(pipeline),
        "--inline",  # a file of the test's own: the worker is a development one (FakeWorld)
        "--by",
        "ci-bot",
        *extra,
    ]


def version_of(commit: str) -> str:
    return f"v2-{commit[:6]}"


def new_commit() -> str:
    return uuid.uuid4().hex[:12]


async def start(cli: Cli, worker: list[str], pipeline: Path) -> str:
    commit = new_commit()
    r = await cli(*promote_args(pipeline, commit))
    assert r.exit_code == 0, r.output
    worker.append(f"promote-demo-{commit}")
    return f"promote-demo-{commit}"


# --- status --json, fifty times ------------------------------------------------------------


@pytest.mark.timeout(1500)
async def test_status_json_exits_0_with_valid_json_50_times(
    cli: Cli, worker: list[str], dev_client: Client, pipeline: Callable[..., Path]
) -> None:
    wid = await start(cli, worker, pipeline(approvals=1))
    await wait_for(dev_client, wid, lambda s: s.stage == Stage.APPROVAL)
    gate = asyncio.Semaphore(2)
    failures: list[str] = []

    async def once(i: int) -> None:
        async with gate:
            r = await rollway(cli, "status", wid, "--json")
        if r.code != 0:
            failures.append(f"run {i}: exit {r.code}: {r.stderr[-600:]}")
            return
        try:
            doc = json.loads(r.stdout)
        except ValueError:
            failures.append(f"run {i}: not JSON: {r.stdout[:200]!r}")
            return
        if doc.get("workflow_id") != wid or doc.get("stage") != "approval":
            failures.append(f"run {i}: wrong document: {r.stdout[:200]!r}")

    await asyncio.gather(*(once(i) for i in range(50)))
    assert not failures, "\n".join(failures)


# --- promote --wait --------------------------------------------------------------------------


async def test_promote_wait_promoted_exits_0_with_json(
    cli: Cli, worker: list[str], pipeline: Callable[..., Path]
) -> None:
    commit = new_commit()
    worker.append(f"promote-demo-{commit}")
    p = pipeline(approvals=None, steps="{weight: 50, soak: 1s}")
    r = await rollway(cli, *promote_args(p, commit, "--wait", "-o", "json"))
    assert r.code == 0, r.stderr
    doc = json.loads(r.stdout)  # stdout is the document and nothing else
    assert doc["workflow_id"] == f"promote-demo-{commit}"
    assert (doc["outcome"], doc["exit_code"]) == ("promoted", 0)
    assert doc["version"] == version_of(commit)
    assert doc["url"] == f"http://ui.test/namespaces/default/workflows/promote-demo-{commit}"


async def test_promote_wait_exit_codes_per_outcome(
    cli: Cli, worker: list[str], dev_client: Client, pipeline: Callable[..., Path]
) -> None:
    p = pipeline(approvals=1)

    async def ended_by(
        action: Callable[[str], Any], ready: Callable[[PromotionState], bool]
    ) -> Ran:
        commit = new_commit()
        wid = f"promote-demo-{commit}"
        worker.append(wid)
        waiting = asyncio.create_task(
            rollway(cli, *promote_args(p, commit, "--wait", "-o", "json"))
        )
        for _ in range(600):  # the process starts the workflow first
            if waiting.done():
                break
            try:
                await wait_for(dev_client, wid, ready, within=1)
                break
            except Exception:
                await asyncio.sleep(0.2)
        await action(wid)
        return await waiting

    r = await ended_by(
        lambda wid: cli("reject", wid, "--by", "alice", "--comment", "not today"),
        lambda s: s.stage == Stage.APPROVAL,
    )
    doc = json.loads(r.stdout)
    assert (r.code, doc["outcome"], doc["exit_code"]) == (4, "rejected", 4), r.stderr
    assert doc["reason"] == "rejected by alice: not today"

    async def approve_then_rollback(wid: str) -> None:
        assert (await cli("approve", wid, "--by", "bob")).exit_code == 0
        await wait_for(dev_client, wid, lambda s: s.canary is not None and s.canary.weight > 0)
        assert (await cli("rollback", wid, "--by", "ops", "--reason", "pager")).exit_code == 0

    r = await ended_by(approve_then_rollback, lambda s: s.stage == Stage.APPROVAL)
    doc = json.loads(r.stdout)
    assert (r.code, doc["outcome"]) == (3, "rolled_back"), r.stderr
    assert "by ops: pager" in doc["reason"]

    r = await ended_by(
        lambda wid: cli("abort", wid, "--by", "ops", "--reason", "wrong build"),
        lambda s: s.stage == Stage.APPROVAL,
    )
    assert (r.code, json.loads(r.stdout)["outcome"]) == (5, "aborted"), r.stderr

    async def terminate(wid: str) -> None:
        await dev_client.get_workflow_handle(wid).terminate(reason="operator pulled it")

    r = await ended_by(terminate, lambda s: s.stage == Stage.APPROVAL)
    doc = json.loads(r.stdout)
    assert (r.code, doc["outcome"]) == (5, "terminated"), r.stderr
    assert "operator pulled it" in doc["reason"]

    # still waiting for approval when the timeout passes; the human form names the outcome
    commit = new_commit()
    worker.append(f"promote-demo-{commit}")
    r = await rollway(cli, *promote_args(p, commit, "--wait", "--timeout", "3"))
    assert r.code == 7, r.stderr
    assert "running: still running after 3s (--timeout) (exit 7)" in " ".join(r.stdout.split())


# --- list, get, -o ---------------------------------------------------------------------------


async def test_list_and_get_in_every_format(
    cli: Cli, worker: list[str], dev_client: Client, pipeline: Callable[..., Path]
) -> None:
    promoted = new_commit()
    worker.append(f"promote-demo-{promoted}")
    p = pipeline(approvals=None, steps="{weight: 50, soak: 1s}")
    assert (await cli(*promote_args(p, promoted, "--wait"))).exit_code == 0
    waiting = await start(cli, worker, pipeline(approvals=1))
    await wait_for(dev_client, waiting, lambda s: s.stage == Stage.APPROVAL)

    rows: list[dict[str, Any]] = []
    for _ in range(50):  # visibility catches up within moments
        r = await cli("list", "--service", "demo", "-o", "json", "--limit", "50")
        assert r.exit_code == 0, r.output
        rows = json.loads(r.stdout)
        ids = {row["workflow_id"] for row in rows}
        if {waiting, f"promote-demo-{promoted}"} <= ids:
            break
        await asyncio.sleep(0.2)
    by_id = {row["workflow_id"]: row for row in rows}
    done = by_id[f"promote-demo-{promoted}"]
    assert (done["service"], done["version"], done["outcome"], done["environment"]) == (
        "demo",
        version_of(promoted),
        "promoted",
        "production",
    )
    assert done["commit"] == promoted and done["stage"] == "done"
    assert (by_id[waiting]["outcome"], by_id[waiting]["stage"]) == ("running", "approval")
    starts = [row["started_at"] for row in rows]
    assert starts == sorted(starts, reverse=True)  # newest first

    r = await cli("list", "--service", "demo", "--outcome", "running", "-o", "yaml")
    listed = yaml.safe_load(r.stdout)
    assert {row["outcome"] for row in listed} == {"running"} and waiting in {
        row["workflow_id"] for row in listed
    }
    r = await cli("list", "--service", "demo", "--limit", "1", "-o", "json")
    assert len(json.loads(r.stdout)) == 1
    r = await cli("list", "--service", "demo")
    assert r.exit_code == 0
    assert re.search(r"service\W+version\W+commit\W+environment\W+stage\W+outcome\W+age", r.output)
    assert re.search(
        rf"demo\W+{version_of(promoted)}\W+{promoted}\W+production\W+done\W+promoted", r.output
    )
    assert "no promotions match" in (await cli("list", "--service", "nothing-here")).output
    r = await cli("list", "--outcome", "great")
    assert r.exit_code == 2 and "--outcome 'great': use one of running, promoted" in r.output

    r = await cli("get", waiting, "-o", "yaml")
    doc = yaml.safe_load(r.stdout)
    assert (doc["workflow_id"], doc["stage"], doc["outcome"]) == (waiting, "approval", "running")
    r = await cli("status", "demo", "-o", "json")  # by service: the running one
    assert json.loads(r.stdout)["workflow_id"] == waiting
    r = await cli("get", waiting)
    assert "stage approval" in r.output

    r = await cli("audit", waiting, "-o", "yaml")
    assert yaml.safe_load(r.stdout)["workflow_id"] == waiting
    r = await cli("incident", "list", "-o", "json")
    assert json.loads(r.stdout)["environment"] == "production"


# --- dialect: version, -h, exit codes, completion, no wrapping off a terminal -----------------


def test_version_help_and_completion() -> None:
    runner = CliRunner()
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and re.fullmatch(r"rollway \d+\.\d+\.\d+\n", r.output)
    for flag in ("-h", "--help"):
        r = runner.invoke(app, [flag])
        assert r.exit_code == 0 and "Usage: rollway" in r.output
        r = runner.invoke(app, ["status", flag])
        assert r.exit_code == 0 and "--output" in r.output and "-o" in r.output
    script = str(Path(sys.executable).parent / "rollway")  # the installed console script
    shown = subprocess.run(
        [script, "--show-completion", "bash"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"},
    )
    assert shown.returncode == 0, shown.stderr
    assert "complete -o default -F _rollway_completion rollway" in shown.stdout
    # what bash's completion function asks: the words after `rollway sta`
    asked = subprocess.run(
        [script],
        capture_output=True,
        text=True,
        timeout=120,
        env={
            **os.environ,
            "_ROLLWAY_COMPLETE": "complete_bash",
            "COMP_WORDS": "rollway sta",
            "COMP_CWORD": "1",
        },
    )
    assert asked.returncode == 0, asked.stderr
    assert "status" in asked.stdout.split() and "promote" not in asked.stdout.split()


def test_long_errors_are_not_wrapped_off_a_terminal(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    env["ROLLWAY_TEMPORAL_ADDRESS"] = "127.0.0.1:1"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "rollway.cli.main",
            *["promote", "--service", "demo"],
            "--version",
            "v2",
            "--commit",
            "not-a-sha-at-all",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert r.returncode == 2
    line = (
        "error: --commit 'not-a-sha-at-all' is not a commit sha: give 7 to 40 lowercase hex "
        "digits (e.g. `--commit $(git rev-parse HEAD)`)"
    )
    assert len(line) > 80
    assert line in r.stderr.splitlines(), r.stderr
    assert "\x1b[" not in r.stderr  # no colour codes in a pipe either


# --- the live view fits the terminal ---------------------------------------------------------

CURSOR_HOME = re.compile(r"\r\x1b\[2K(?:\x1b\[1A\x1b\[2K)*")
"""How rich's live display goes back to the top of its frame before redrawing it."""


def run_in_pty(argv: list[str], env: dict[str, str], rows: int, cols: int, seconds: float) -> str:
    """Run `argv` on a pseudo-terminal of `rows` by `cols` for `seconds`; what it wrote."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: exec, never return
        os.execvpe(argv[0], argv, env)
    import fcntl

    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    os.kill(pid, signal.SIGWINCH)
    chunks: list[bytes] = []
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    data = os.read(fd, 65536)
                except OSError:
                    break
                if not data:
                    break
                chunks.append(data)
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(fd)
    return b"".join(chunks).decode(errors="replace")


@pytest.mark.timeout(300)
async def test_watch_fits_a_small_terminal(
    cli: Cli, worker: list[str], dev_client: Client, pipeline: Callable[..., Path]
) -> None:
    wid = await start(cli, worker, pipeline(approvals=None, steps="{weight: 50, soak: 600s}"))
    await wait_for(dev_client, wid, lambda s: s.canary is not None and len(s.canary.analyses) >= 1)
    env = proc_env(cli)
    env["TERM"] = "xterm-256color"
    argv = [sys.executable, "-m", "rollway.cli.main", "status", wid, "--watch"]
    raw = await asyncio.to_thread(run_in_pty, argv, env, 25, 80, 25.0)
    frames = [f for f in CURSOR_HOME.split(raw) if f.strip()]
    assert len(frames) >= 3, raw[-2000:]  # it redrew in place several times
    tallest = max(f.count("\n") + 1 for f in frames)
    assert tallest <= 24, f"a frame of {tallest} lines on a 25-line terminal"
    assert "canary in production" in raw and "analysis" in raw
    assert "timeline (last 3 of" in raw  # the compact view
    state = await wait_for(dev_client, wid, lambda s: True)
    assert state.outcome == Outcome.RUNNING  # watching changed nothing
