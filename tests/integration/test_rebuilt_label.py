"""Two builds of one version label never collide on the local platform (real HAProxy, processes).

A release is a commit, not a label: a rebuild of the running label deploys as a
canary under a name of its own in HAProxy (and in Prometheus' `server` and
`version` labels), shares traffic with the old build by weight, and replaces it on
promotion; deploying the very build that runs is a no-op.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rollway import stack
from rollway.home import read_json
from rollway.platform.base import DeployRequest, Target
from rollway.platform.local import LocalPlatform
from rollway.spec import LocalPlatformConfig, RunSpec
from tests.support.binaries import require_binary

APP = Path(__file__).resolve().parents[2] / "examples" / "demo" / "app.py"
PROD = Target(service="demo", environment="production")


def _build(root: Path, commit: str) -> str:
    """One build of demo v2 (the demo's build.sh without its scan)."""
    out = root / f"v2-{commit}"
    out.mkdir(parents=True)
    shutil.copy(APP, out / "app.py")
    (out / "behaviour.json").write_text(json.dumps({}))
    return str(out)


@pytest.fixture
def plat(tmp_path: Path) -> Iterator[LocalPlatform]:
    require_binary("haproxy", "apt-get install -y haproxy (./dev installs it)")
    home = tmp_path / "home"
    home.mkdir()
    run = RunSpec(command=["{python}", "app.py"], health_path="/healthz")
    try:
        yield LocalPlatform(home, run, LocalPlatformConfig())
    finally:
        stack.down(home)


def test_a_rebuilt_label_gets_its_own_instance_and_replaces_the_old_build(
    plat: LocalPlatform, tmp_path: Path
) -> None:
    old, new = _build(tmp_path, "0ldc0mm1t"), _build(tmp_path, "n3wc0mm1t")
    plat.deploy(DeployRequest(target=PROD, version="v2", artifact=old))
    plat.wait_ready(PROD, "v2", 30, lambda _: None)
    plat.promote(PROD)
    assert plat.haproxy.weights("demo.production") == {"v2": 100}

    assert plat.deploy(DeployRequest(target=PROD, version="v2", artifact=old)).canary is None

    status = plat.deploy(DeployRequest(target=PROD, version="v2", artifact=new))
    assert status.canary is not None and status.stable is not None
    assert status.canary.artifact == new and status.stable.artifact == old
    rebuilt = status.canary.instance
    assert rebuilt.startswith("v2-") and rebuilt != status.stable.instance == "v2"
    plat.wait_ready(PROD, "v2", 30, lambda _: None)
    plat.set_weight(PROD, 40)
    assert plat.haproxy.weights("demo.production") == {"v2": 60, rebuilt: 40}
    scrape = read_json(plat.targets_dir / "demo.production.json")
    assert sorted(g["labels"]["version"] for g in scrape) == sorted(["v2", rebuilt])

    status = plat.promote(PROD)
    assert status.stable is not None and status.stable.artifact == new
    assert status.stable.instance == rebuilt and status.canary is None
    assert plat.haproxy.weights("demo.production") == {rebuilt: 100}
    url = status.frontend_url
    assert url is not None
    assert httpx.get(url, timeout=5).status_code == 200  # the rebuild serves production
