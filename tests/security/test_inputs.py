"""Hostile input helpers: validators with clear messages, paths that stay under their root."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from rollway.platform.base import DeployRequest, PlatformError, Target
from rollway.platform.local import LocalPlatform, backend_name
from rollway.platform.local.haproxy import BackendEntry, HAProxy, ServerEntry
from rollway.security.inputs import (
    InputError,
    check_commit,
    check_env_key,
    check_name,
    check_version,
    contained_path,
)
from rollway.spec import RunSpec


@pytest.mark.parametrize("good", ["demo", "orders-api", "a", "prod-eu-1"])
def test_names_accepted(good: str) -> None:
    assert check_name(good, "environment") == good


@pytest.mark.parametrize(
    "bad", ["", "Demo", "-demo", "demo-", "a.b", "prod\nglobal", "x;y", "../x", "a" * 53]
)
def test_names_refused_with_field_and_form(bad: str) -> None:
    with pytest.raises(InputError, match=r"environment .* is not allowed: use lowercase letters"):
        check_name(bad, "environment")


@pytest.mark.parametrize("good", ["v2", "1.4.0-rc.1", "3.0.8-r0", "2.0.0+build.5", "V_2"])
def test_versions_accepted(good: str) -> None:
    assert check_version(good) == good


@pytest.mark.parametrize(
    "bad",
    [
        "",
        ".",
        "..",
        "../../outside/v2",
        "v2/x",
        "-v2",
        "v2 ",
        "v\u00e9",
        'v2") or vector(1',
        "a" * 129,
    ],
)
def test_versions_refused(bad: str) -> None:
    with pytest.raises(InputError, match=r"version .* is not allowed: use letters, digits"):
        check_version(bad)


def test_commits_and_env_keys() -> None:
    assert check_commit("4f2a9c1") == "4f2a9c1"
    assert check_commit("a" * 64) == "a" * 64
    for bad in ("/..", "4F2A9C1", "abc", "4f2a9c1 ", "g" * 40, "a" * 65):
        with pytest.raises(InputError, match=r"commit .* is not a commit id: give 7 to 64"):
            check_commit(bad)
    assert check_env_key("LOG_LEVEL") == "LOG_LEVEL"
    for bad in ("1X", "A-B", "A=B", ""):
        with pytest.raises(InputError, match=r"build.env key .* is not an environment variable"):
            check_env_key(bad, "build.env")


def test_contained_path(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "inside-link").symlink_to(root / "sub")
    (root / "outside-link").symlink_to(tmp_path)
    assert contained_path(root, "sub", "x.sarif") == (root / "sub" / "x.sarif").resolve()
    assert contained_path(root, "inside-link/x") == (root / "sub" / "x").resolve()
    assert contained_path(root, "sub/../y") == (root / "y").resolve()
    for parts in (
        ("..",),
        ("sub", "../../x"),
        ("/etc/passwd",),
        ("outside-link", "x"),
        ("a\x00b",),
    ):
        with pytest.raises(InputError, match=r"scan.reports"):
            contained_path(root, *parts, field="scan.reports")


@pytest.mark.parametrize(
    "environment",
    ["prod\n  server evil 10.0.0.1:22", "prod; del server demo.prod/v1", "prod eu", "../prod"],
)
def test_hostile_environment_never_reaches_haproxy(environment: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    platform = LocalPlatform(home, RunSpec(command=["true"]))
    target = Target(service="demo", environment=environment)
    with pytest.raises(PlatformError, match=r"environment .* is not allowed"):
        backend_name(target)
    with pytest.raises(PlatformError, match=r"environment .* is not allowed"):
        platform.deploy(DeployRequest(target=target, version="v2", artifact=str(tmp_path)))
    assert not (home / "haproxy" / "haproxy.cfg").exists()
    assert not (home / "platform").exists() or not any((home / "platform").iterdir())


def test_haproxy_config_and_runtime_names_are_checked(tmp_path: Path) -> None:
    with pytest.raises(PlatformError, match=r"not <service>.<environment>"):
        BackendEntry(name="demo.prod\nglobal", port=1, servers=[])
    with pytest.raises(PlatformError, match="haproxy server"):
        ServerEntry(name="v2 weight 100", port=1, weight=0)
    with pytest.raises(PlatformError, match=r"not <service>.<environment>"):
        HAProxy(tmp_path).weights("demo.prod; shutdown sessions server x/y")
    cfg = HAProxy(tmp_path).render(
        [BackendEntry(name="demo.prod", port=1, servers=[ServerEntry(name="v2", port=2, weight=9)])]
    )
    assert "backend demo.prod" in cfg and "server v2 127.0.0.1:2 weight 9" in cfg


def test_service_process_gets_an_allow_listed_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The local platform starts a version without the worker's credentials."""
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "worker-secret-4711")
    monkeypatch.setenv("KUBECONFIG", "/root/.kube/prod")
    out = tmp_path / "env.json"
    dump = f"import json, os; json.dump(dict(os.environ), open({str(out)!r}, 'w'))"
    run = RunSpec(command=["{python}", "-c", dump], env={"LOG_LEVEL": "debug"})
    platform = LocalPlatform(tmp_path / "home", run)
    version = platform._start_version(  # the spawn edge, without HAProxy
        Target(service="demo", environment="staging"), "v2", str(tmp_path), "v2"
    )
    deadline = time.monotonic() + 20
    while not out.exists() or not out.read_text().endswith("}"):
        assert time.monotonic() < deadline, "the service process did not start"
        time.sleep(0.05)
    env = json.loads(out.read_text())
    assert env["LOG_LEVEL"] == "debug" and env["VERSION"] == "v2" and env["PORT"]
    assert "AWS_SECRET_ACCESS_KEY" not in env and "KUBECONFIG" not in env
    assert env.get("PATH") == os.environ.get("PATH")
    assert version.argv[0] == sys.executable
