"""The local state folder (`$ROLLWAY_HOME`, default `~/.rollway`) and its layout."""

from __future__ import annotations

import fcntl
import json
import os
import random
import socket
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def home() -> Path:
    """The state folder; created on first use, private to its user (see `private_dir`)."""
    p = Path(os.environ.get("ROLLWAY_HOME", Path.home() / ".rollway")).expanduser().resolve()
    private_dir(p)
    return p


def private_dir(path: Path) -> Path:
    """Create `path` mode 0700, or narrow it to 0700 if it exists with wider permissions.

    The local stack is single-user: its state, history (Temporal's SQLite file),
    logs and HAProxy's admin sockets live under this folder.
    """
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = path.stat()
    if not stat.S_IMODE(st.st_mode) & 0o077:
        return path
    if st.st_uid != os.getuid() or st.st_mode & stat.S_ISVTX:
        raise PermissionError(
            f"ROLLWAY_HOME={path} is shared (mode {stat.S_IMODE(st.st_mode):o}, owner uid "
            f"{st.st_uid}); the local stack is single-user: point ROLLWAY_HOME at a folder "
            "of your own, e.g. ~/.rollway"
        )
    path.chmod(0o700)
    return path


def private_file(path: Path) -> None:
    """Narrow an existing file to 0600 (no-op when it does not exist)."""
    try:
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            path.chmod(0o600)
    except FileNotFoundError:
        pass


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_port() -> int:
    """A free port below the kernel's ephemeral range.

    Outgoing connections take their local port from the ephemeral range, so a
    server port chosen there can be taken by any client while its server is
    down, and `up` could not listen there again. Below the range it stays ours.
    """
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    rng = random.SystemRandom()
    for _ in range(200):
        p = rng.randint(max(1024, low - 12000), low - 1)
        if bindable(p) and not port_open(p):
            return p
    return free_port()


def bindable(port: object) -> bool:
    """True when a server could listen on 127.0.0.1:`port` right now."""
    if not isinstance(port, int) or not 0 < port < 65536:
        return False
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock between processes (worker, CLI, tests)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def read_json(path: Path, default: Any = None) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return default


def write_json(path: Path, data: Any) -> None:
    """Write atomically: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str))
    tmp.replace(path)
