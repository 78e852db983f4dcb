"""Reproduce: a HAProxy reload drops production keep-alive requests now and then.

    uv run python -m tests.support.chaos_reload_drop ARTIFACTS_DIR [RELOADS] [RPS]

ARTIFACTS_DIR holds built demo versions (`v1/` from examples/demo/build.sh). v1 serves
production behind the local platform's HAProxy with real load; then RELOADS new
targets appear (each one's first deploy makes `start_or_reload` reload HAProxy through
its master socket), one a second. Measured on the 2-core box: 0 reloads -> 0 errors;
40 reloads at 25 req/s -> 1 RemoteProtocolError in 1,400 requests (60 at 40 req/s: 1 in
3,048). With `option idle-close-on-response` (rollway/platform/local/haproxy.py): 60
reloads at 40 req/s, twice -> 0 errors in 6,693 requests. Not a test (it is not
collected); tests/integration/test_haproxy_reload.py asserts the mechanism exactly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rollway import stack
from rollway.platform.base import DeployRequest, Target
from rollway.platform.local import LocalPlatform
from rollway.spec import LocalPlatformConfig, RunSpec

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    artifacts = Path(sys.argv[1])
    reloads = int(sys.argv[2]) if len(sys.argv) > 2 else 40
    rps = sys.argv[3] if len(sys.argv) > 3 else "25"
    home = Path(tempfile.mkdtemp())
    os.environ["ROLLWAY_HOME"] = str(home)
    plat = LocalPlatform(
        home, RunSpec(command=["{python}", "app.py"], health_path="/healthz"), LocalPlatformConfig()
    )
    prod = Target(service="demo", environment="production")
    plat.deploy(DeployRequest(target=prod, version="v1", artifact=str(artifacts / "v1")))
    plat.wait_ready(prod, "v1", 30, lambda _: None)
    plat.promote(prod)
    stats = home / "load.json"
    load = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "examples/demo/loadgen.py"),
            str(plat.status(prod).frontend_url),
            "--rps",
            rps,
            "--stats",
            str(stats),
        ],
        start_new_session=True,
    )
    try:
        time.sleep(4)
        for i in range(reloads):
            plat._ensure_frontend(Target(service=f"other{i}", environment="staging"))
            time.sleep(1.0)
        time.sleep(2)
    finally:
        os.killpg(load.pid, signal.SIGTERM)
        load.wait(15)
        print(f"{reloads} reloads: {stats.read_text()}")
        stack.down(home)


if __name__ == "__main__":
    main()
