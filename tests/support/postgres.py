"""A private PostgreSQL cluster for the migration tests: Debian's binaries, own port and folder.

`initdb` and `postgres` refuse to run as root, so as root (CI on a fresh Debian
machine) the cluster belongs to `nobody`; otherwise to the current user. The
server is a direct child (no pg_ctl daemonizing), registered with the reaper, and
stopping it is bounded: a fast shutdown, then SIGKILL.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from tests.support import reaper
from tests.support.binaries import require_binary

HINT = "install Debian's `postgresql` package (`./dev test` does: apt-get install postgresql)"
START_TIMEOUT_S = 30.0
STOP_GRACE_S = 10.0
SERVER_USER = "nobody"


def pg_bin(name: str) -> str:
    """`name` from the newest /usr/lib/postgresql/<version>/bin; fails the test if missing."""
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    for folder in reversed(versions):
        if (folder / name).exists():
            return str(folder / name)
    return require_binary(name, HINT)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Cluster:
    port: int
    data: Path

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new, empty database of this test's own; returns its URL."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"'.encode())
        return self.url(name)


def _as_server_user() -> dict[str, object]:
    """Popen arguments that drop root to `nobody` (initdb refuses root)."""
    if os.geteuid() != 0:
        return {}
    return {"user": SERVER_USER, "group": "nogroup", "extra_groups": []}


@pytest.fixture(scope="session")
def postgres() -> Iterator[Cluster]:
    initdb, server = pg_bin("initdb"), pg_bin("postgres")
    folder = Path(tempfile.mkdtemp(prefix="rollway-pg-"))
    data = folder / "data"
    drop = _as_server_user()
    if drop:
        shutil.chown(folder, SERVER_USER, "nogroup")
    init = subprocess.run(
        [initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        **drop,  # type: ignore[call-overload]
    )
    if init.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.fail(f"initdb failed ({init.returncode}):\n{init.stdout}\n{init.stderr}")
    port = free_port()
    log = open(folder / "postgres.log", "wb")  # noqa: SIM115 -- closed in the finalizer
    proc = subprocess.Popen(
        [server, "-D", str(data), "-p", str(port), "-h", "127.0.0.1", "-k", "", "-F"],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        **drop,  # type: ignore[call-overload]
    )
    registered = reaper.group(proc.pid)
    cluster = Cluster(port=port, data=data)
    try:
        _wait_ready(cluster, proc, folder / "postgres.log")
        yield cluster
    finally:
        _stop(proc)
        reaper.forget(registered)
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


def _wait_ready(cluster: Cluster, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            pytest.fail(f"postgres exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with psycopg.connect(cluster.url(), connect_timeout=2):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                pytest.fail(f"postgres not ready in {START_TIMEOUT_S:.0f}s:\n{log.read_text()}")
            time.sleep(0.1)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Fast shutdown (SIGINT), then SIGKILL: never hangs."""
    for sig, wait in ((signal.SIGINT, STOP_GRACE_S), (signal.SIGKILL, 5.0)):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            continue
