"""Keep the local HAProxy alive: restart it from the platform state when its master dies.

HAProxy is the front door of every local service, so when its master dies
(and its workers with it) every version loses its traffic, stable included.
The worker runs `HAProxySupervisor` in a thread (checking every quarter second)
and every platform activity checks first (`LocalPlatform` calls
`restore_haproxy`), so traffic comes back within about a second during a soak
with no promotion action needed. The config is rendered from the platform's
state files, which carry each server's last weight, so the restarted HAProxy
serves the same versions with the same weights.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from rollway.home import read_json
from rollway.platform.local.haproxy import BackendEntry, HAProxy, ServerEntry

log = logging.getLogger(__name__)


def backends(home: Path) -> list[BackendEntry]:
    """Every target's frontend and servers (with their last weights), from the state files."""
    # Imported here: platform imports this module.
    from rollway.platform.local.platform import TargetState

    out = []
    for path in sorted((home / "platform").glob("*.json")):
        data = read_json(path)
        if not data:
            continue
        st = TargetState.model_validate(data)
        servers = [
            ServerEntry(name=v.name, port=v.port, weight=v.weight)
            for v in (st.stable, st.canary)
            if v is not None
        ]
        out.append(BackendEntry(name=path.stem, port=st.frontend_port, servers=servers))
    return out


def restore_haproxy(home: Path) -> bool:
    """Restart HAProxy if it ran here (its config exists) and its master is dead.

    True when it was restarted. A stack that never started HAProxy, or whose
    HAProxy was stopped on purpose (`rollway down` removes the config), is left alone.
    """
    if not (home / "haproxy" / "haproxy.cfg").exists():
        return False
    haproxy = HAProxy(home)
    if haproxy.master_pid() is not None:
        return False
    restarted = haproxy.ensure_running(lambda: backends(home))
    if restarted:
        log.warning("HAProxy's master was not running: restarted it from the platform state")
    return restarted


class HAProxySupervisor(threading.Thread):
    """A daemon thread that runs `restore_haproxy` every `interval` seconds until stopped."""

    def __init__(self, home: Path, interval: float = 0.25) -> None:
        super().__init__(name="haproxy-supervisor", daemon=True)
        self.home = home
        self.interval = interval
        self.restarts = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            try:
                if restore_haproxy(self.home):
                    self.restarts += 1
            except Exception:  # keep supervising; the next round retries
                log.exception("restarting HAProxy failed")

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=15)
