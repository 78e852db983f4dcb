"""HAProxy's master SIGKILLed under steady load: how long until traffic flows again.

Run: ``uv run python bench/haproxy_restart.py [--kills N] [--rps R]``

In a temporary home: HAProxy, the demo service (v1 stable at 70 %, v2 canary at
30 %) through the real `LocalPlatform`, the `HAProxySupervisor` that the worker
runs (here in this process) and the demo load generator. Kills the master N
times; for each kill prints the seconds until the front door answers 200 again
and the requests that failed meanwhile, then the medians. The baseline, measured
first, is the same kill with no supervisor (traffic does not come back).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from rollway import stack
from rollway.platform.base import DeployRequest, Target
from rollway.platform.local import LocalPlatform
from rollway.platform.local.supervisor import HAProxySupervisor
from rollway.spec_loader import load_pipeline

ROOT = Path(__file__).resolve().parent.parent
TARGET = Target(service="bench", environment="production")


def errors(stats: Path) -> int:
    data = json.loads(stats.read_text())
    return int(data.get("connection_errors", 0)) + int(data.get("status_503", 0))


def until_ok(url: str, within: float) -> float | None:
    start = time.monotonic()
    with httpx.Client(timeout=1.0) as c:
        while time.monotonic() - start < within:
            try:
                if c.get(url).status_code == 200:
                    return time.monotonic() - start
            except httpx.HTTPError:
                pass
            time.sleep(0.02)
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--kills", type=int, default=5)
    ap.add_argument("--rps", type=int, default=50)
    a = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="rollway-bench-haproxy-"))
    run = load_pipeline(ROOT / "pipelines" / "demo.yaml").run
    assert run is not None
    plat = LocalPlatform(home, run)
    load = None
    sup = HAProxySupervisor(home)
    try:
        for v in ("v1", "v2"):
            art = home / f"artifact-{v}"
            art.mkdir()
            shutil.copy(ROOT / "examples" / "demo" / "app.py", art / "app.py")
            plat.deploy(DeployRequest(target=TARGET, version=v, artifact=str(art)))
            plat.wait_ready(TARGET, v, 30, lambda _: None)
            if v == "v1":
                plat.promote(TARGET)
        plat.set_weight(TARGET, 30)
        url = plat.status(TARGET).frontend_url
        assert url is not None
        stats = home / "load.json"
        loadgen = ROOT / "examples" / "demo" / "loadgen.py"
        load = subprocess.Popen(
            [sys.executable, str(loadgen), url, "--rps", str(a.rps), "--stats", str(stats)],
            start_new_session=True,
            stdout=subprocess.DEVNULL,
        )
        while not stats.exists():
            time.sleep(0.1)
        time.sleep(2)
        master = plat.haproxy.master_pid()
        assert master is not None
        os.kill(master, signal.SIGKILL)  # baseline: no supervisor
        baseline = until_ok(url, 5)
        back = "not within 5 s" if baseline is None else f"after {baseline:.2f}s"
        print(f"baseline, no supervisor: traffic back {back}")
        sup.start()
        if until_ok(url, 30) is None:
            raise SystemExit("the supervisor did not bring HAProxy back")
        restored, failed = [], []
        for i in range(a.kills):
            time.sleep(3)
            before = errors(stats)
            master = plat.haproxy.master_pid()
            assert master is not None
            os.kill(master, signal.SIGKILL)
            took = until_ok(url, 30)
            time.sleep(2.5)  # the load generator's stats catch up
            lost = errors(stats) - before
            weights = plat.haproxy.weights("bench.production")
            if took is None:
                raise SystemExit("traffic never came back")
            print(
                f"kill {i + 1}: traffic back after {took:.2f}s, {lost} failed requests, {weights}"
            )
            restored.append(took)
            failed.append(lost)
        print(
            f"median: traffic back after {statistics.median(restored):.2f}s "
            f"(max {max(restored):.2f}s), {statistics.median(failed):.0f} failed requests "
            f"per kill at {a.rps} req/s"
        )
    finally:
        sup.stop()
        if load is not None:
            os.killpg(load.pid, signal.SIGTERM)
            load.wait(15)
        stack.down(home)  # the service versions and HAProxy
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
