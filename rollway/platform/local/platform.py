"""The local platform: service versions as OS processes behind HAProxy.

State per target lives in `$ROLLWAY_HOME/platform/<service>.<env>.json`,
guarded by a file lock, so the worker, the CLI and tests agree on it.
HAProxy is told every change through its runtime API, and Prometheus finds
every running version through file-based discovery.
"""

from __future__ import annotations

import contextlib
import hashlib
import sys
import time
from pathlib import Path

import httpx
from pydantic import BaseModel, Field

from rollway.home import file_lock, free_port, read_json, server_port, write_json
from rollway.platform.base import (
    DeploymentStatus,
    DeployRequest,
    Heartbeat,
    PlatformError,
    Target,
    VersionStatus,
)
from rollway.platform.labels import backend_name, build_label, server_name
from rollway.platform.local import processes, supervisor
from rollway.platform.local.haproxy import BackendEntry, HAProxy
from rollway.platform.local.processes import ProcessRef
from rollway.security.redact import child_env, redact
from rollway.spec import LocalPlatformConfig, RunSpec


class RunningVersion(BaseModel):
    version: str
    artifact: str
    port: int
    weight: int
    process: ProcessRef
    argv: list[str]
    instance: str = Field(
        default="",
        description="HAProxy server name (Prometheus `server` label); empty in state files "
        "written before builds were named: the version label then.",
    )

    @property
    def name(self) -> str:
        """What HAProxy and Prometheus call this build."""
        return self.instance or server_name(self.version)


class TargetState(BaseModel):
    frontend_port: int
    stable: RunningVersion | None = None
    canary: RunningVersion | None = None
    previous_stable: RunningVersion | None = None


class LocalPlatform:
    """`Platform` on this machine; see `rollway.platform.base` for the contract."""

    def __init__(self, home: Path, run: RunSpec, config: LocalPlatformConfig | None = None) -> None:
        self.home = home
        self.run = run
        self.config = config or LocalPlatformConfig()
        self.haproxy = HAProxy(home)
        self.state_dir = home / "platform"
        self.targets_dir = home / "prometheus" / "targets"

    # -- state -----------------------------------------------------------------

    def _state_path(self, target: Target) -> Path:
        return self.state_dir / f"{backend_name(target)}.json"

    def _lock(self, target: Target):  # type: ignore[no-untyped-def]
        return file_lock(self.state_dir / f"{backend_name(target)}.lock")

    def _load(self, target: Target) -> TargetState | None:
        data = read_json(self._state_path(target))
        return TargetState.model_validate(data) if data else None

    def _save(self, target: Target, state: TargetState) -> None:
        write_json(self._state_path(target), state.model_dump(mode="json"))
        self._write_scrape_targets(target, state)

    def _all_backends(self) -> list[BackendEntry]:
        return supervisor.backends(self.home)

    def _write_scrape_targets(self, target: Target, state: TargetState) -> None:
        groups = [
            {
                "targets": [f"127.0.0.1:{v.port}"],
                "labels": {
                    "service": target.service,
                    "environment": target.environment,
                    "version": build_label(v.version, v.instance),
                },
            }
            for v in (state.stable, state.canary)
            if v is not None
        ]
        write_json(self.targets_dir / f"{backend_name(target)}.json", groups)

    def _ensure_frontend(self, target: Target) -> TargetState:
        state = self._load(target)
        if state is None:
            state = TargetState(frontend_port=server_port())  # stays ours across restarts
            self._save(target, state)
            self.haproxy.start_or_reload(self._all_backends())
        elif self.haproxy.master_pid() is None:
            self.haproxy.start_or_reload(self._all_backends())
        write_json(
            self.targets_dir / "haproxy.json",
            [{"targets": [f"127.0.0.1:{self.haproxy.metrics_port}"], "labels": {"job": "haproxy"}}],
        )
        return state

    # -- helpers ---------------------------------------------------------------

    def _set_weights(self, target: Target, state: TargetState, canary_weight: int) -> None:
        """Apply weights in one runtime-API call: canary first when it shrinks."""
        be = backend_name(target)
        cmds = []
        if state.canary is not None:
            cmds.append(f"set server {be}/{state.canary.name} weight {canary_weight}")
            state.canary.weight = canary_weight
        if state.stable is not None:
            stable_weight = 100 - canary_weight if state.canary is not None else 100
            cmds.append(f"set server {be}/{state.stable.name} weight {stable_weight}")
            state.stable.weight = stable_weight
        if cmds:
            self.haproxy.command(*cmds)

    def _retire(self, target: Target, v: RunningVersion, drain: bool) -> None:
        """Take a version out of HAProxy and stop its process."""
        be, srv = backend_name(target), v.name
        with contextlib.suppress(PlatformError):  # already gone
            self.haproxy.command(f"set server {be}/{srv} weight 0")
        if drain:
            time.sleep(self.config.drain.total_seconds())
        for cmd in (
            f"set server {be}/{srv} state maint",
            f"shutdown sessions server {be}/{srv}",
            f"del server {be}/{srv}",
        ):
            with contextlib.suppress(PlatformError):
                self.haproxy.command(cmd)
        processes.stop(v.process)

    def _version_status(self, v: RunningVersion, role: str, live: dict[str, int]) -> VersionStatus:
        ok = processes.alive(v.process)
        return VersionStatus(
            version=v.version,
            role=role,
            artifact=v.artifact,
            ready=ok and _healthy(v.port, self.run.health_path),
            available=1 if ok else 0,
            weight=live.get(v.name, v.weight),
            instance=v.name,
            endpoint=f"http://127.0.0.1:{v.port}",
            message="" if ok else f"process {v.process.pid} is not running (log: {v.process.log})",
        )

    def _status(self, target: Target, state: TargetState | None) -> DeploymentStatus:
        if state is None:
            return DeploymentStatus(target=target)
        live = self.haproxy.weights(backend_name(target))
        return DeploymentStatus(
            target=target,
            stable=self._version_status(state.stable, "stable", live) if state.stable else None,
            canary=self._version_status(state.canary, "canary", live) if state.canary else None,
            previous_stable=state.previous_stable.version if state.previous_stable else None,
            frontend_url=f"http://127.0.0.1:{state.frontend_port}",
        )

    def _start_version(
        self, target: Target, version: str, artifact: str, instance: str
    ) -> RunningVersion:
        port = free_port()
        subst = {
            "artifact": artifact,
            "port": str(port),
            "version": version,
            "python": sys.executable,
        }
        argv = [a.format(**subst) for a in self.run.command]
        env = (
            child_env()  # the basics only: never the worker's credentials
            | self.run.env
            | {
                "PORT": str(port),
                "VERSION": version,
                "SERVICE": target.service,
                "ENVIRONMENT": target.environment,
            }
        )
        cwd = artifact if Path(artifact).is_dir() else str(self.home)
        log = self.state_dir / "logs" / f"{backend_name(target)}.{instance}.log"
        try:
            ref = processes.spawn(argv, cwd=cwd, env=env, log=log)
        except OSError as e:
            raise PlatformError(
                f"cannot start {target.label()} {version}: {e}", retryable=False
            ) from e
        return RunningVersion(
            version=version,
            artifact=artifact,
            port=port,
            weight=0,
            process=ref,
            argv=argv,
            instance=instance,
        )

    # -- Platform ----------------------------------------------------------------

    def deploy(self, request: DeployRequest) -> DeploymentStatus:
        target = request.target
        with self._lock(target):
            state = self._ensure_frontend(target)
            if _same_build(state.stable, request) and state.canary is None:
                return self._status(target, state)  # already live: nothing to do
            if state.canary is not None:
                if _same_build(state.canary, request) and processes.alive(state.canary.process):
                    return self._status(target, state)  # retried deploy
                old, state.canary = state.canary, None
                self._set_weights(target, state, 0)
                self._retire(target, old, drain=False)
            instance = instance_name(request, taken=state.stable.name if state.stable else None)
            v = self._start_version(target, request.version, request.artifact, instance)
            state.canary = v
            srv = v.name
            be = backend_name(target)
            self._save(target, state)  # before HAProxy learns of it: a crash leaves no orphan
            self.haproxy.command(
                f"add server {be}/{srv} 127.0.0.1:{v.port} weight 0 check inter 1s fall 2 rise 1",
            )
            self.haproxy.command(f"enable health {be}/{srv}", f"enable server {be}/{srv}")
            return self._status(target, state)

    def wait_ready(
        self, target: Target, version: str, timeout_s: float, heartbeat: Heartbeat
    ) -> DeploymentStatus:
        deadline = time.monotonic() + timeout_s
        while True:
            state = self._load(target)
            v = _find(state, version)
            if v is None:
                raise PlatformError(f"{target.label()} does not run {version}", retryable=False)
            if not processes.alive(v.process):
                tail = redact(processes.log_tail(v.process.log))
                raise PlatformError(
                    f"{target.label()} {version} exited before it was ready; log tail:\n{tail}",
                    retryable=False,
                )
            healthy = _healthy(v.port, self.run.health_path)
            if healthy and self._routed(target, v):
                return self._status(target, state)
            if time.monotonic() > deadline and healthy:
                raise PlatformError(
                    f"{target.label()} {version} answers on port {v.port} but HAProxy has not "
                    f"marked server {v.name} up within {timeout_s:.0f}s (its health check, "
                    f"GET {self.run.health_path}, fails from HAProxy)",
                    retryable=False,
                )
            if time.monotonic() > deadline:
                raise PlatformError(
                    f"{target.label()} {version} did not answer 200 on {self.run.health_path} "
                    f"within {timeout_s:.0f}s; log tail:\n{redact(processes.log_tail(v.process.log))}",
                    retryable=False,
                )
            heartbeat(f"waiting for {version} on port {v.port}")
            time.sleep(0.2)

    def _routed(self, target: Target, v: RunningVersion) -> bool:
        """Ready means HAProxy would route to it: its health check passed there too.

        A process that answers before HAProxy's first check would otherwise get weight
        while HAProxy still marks it down, and its share of requests would get 503s.
        """
        if not self.haproxy.running():
            return True  # restored from the state (weights and checks) on the next call
        return self.haproxy.server_up(backend_name(target), v.name)

    def set_weight(self, target: Target, weight: int) -> DeploymentStatus:
        if not 0 <= weight <= 100:
            raise PlatformError(f"weight {weight} is not within 0..100", retryable=False)
        with self._lock(target):
            supervisor.restore_haproxy(self.home)
            state = self._load(target)
            if state is None or state.canary is None:
                raise PlatformError(f"{target.label()} has no canary to weight", retryable=False)
            self._set_weights(target, state, weight)
            self._save(target, state)
            return self._status(target, state)

    def promote(self, target: Target) -> DeploymentStatus:
        with self._lock(target):
            supervisor.restore_haproxy(self.home)
            state = self._load(target)
            if state is None or state.canary is None:
                return self._status(target, state)  # nothing to promote (retry after success)
            self._set_weights(target, state, 100)
            old, state.stable, state.canary = state.stable, state.canary, None
            state.stable.weight = 100
            if old is not None:
                state.previous_stable = old
            self._save(target, state)
            if old is not None:
                self._retire(target, old, drain=True)
            return self._status(target, state)

    def rollback(self, target: Target) -> DeploymentStatus:
        with self._lock(target):
            supervisor.restore_haproxy(self.home)
            state = self._load(target)
            if state is None or state.canary is None:
                return self._status(target, state)
            self._set_weights(target, state, 0)  # first write: all traffic to stable
            old, state.canary = state.canary, None
            self._save(target, state)
            self._retire(target, old, drain=False)
            return self._status(target, state)

    def undo(self, target: Target, to_version: str | None = None) -> DeploymentStatus:
        state = self._load(target)
        prev = state.previous_stable if state else None
        if prev is None or (to_version and prev.version != to_version):
            raise PlatformError(
                f"{target.label()} has no previous version {to_version or ''} to return to".replace(
                    "  ", " "
                ),
                retryable=False,
            )
        self.deploy(DeployRequest(target=target, version=prev.version, artifact=prev.artifact))
        self.wait_ready(
            target, prev.version, self.run.ready_timeout.total_seconds(), lambda _: None
        )
        return self.promote(target)

    def status(self, target: Target) -> DeploymentStatus:
        return self._status(target, self._load(target))


def _same_build(v: RunningVersion | None, request: DeployRequest) -> bool:
    """The same label built from the same artifact (a rebuilt label is a new release)."""
    return v is not None and v.version == request.version and v.artifact == request.artifact


def instance_name(request: DeployRequest, taken: str | None) -> str:
    """The version label, or label-<artifact digest> when another build holds that name.

    A release is a commit, not a label: a rebuild of the running label gets a name
    of its own in HAProxy and Prometheus, so the two builds never share a server.
    """
    name = server_name(request.version)
    if name != taken:
        return name
    digest = hashlib.sha256(request.artifact.encode()).hexdigest()[:8]
    return f"{name}-{digest}"


def _find(state: TargetState | None, version: str) -> RunningVersion | None:
    if state is None:
        return None
    for v in (state.canary, state.stable):
        if v is not None and v.version == version:
            return v
    return None


def _healthy(port: int, path: str) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False
