"""Connecting as the Temporal ecosystem does: env config profiles, TEMPORAL_* variables, TLS.

The TLS tests go through a real TLS endpoint (HAProxy on loopback in front of the
dev server, `tests/support/tls_proxy.py`) with the real `rollway` process and the
worker's connect function.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.testing import WorkflowEnvironment

import workers.main
from rollway.connection import Overrides, TemporalConnectionError, load_settings
from tests.support.tls_proxy import API_KEY, SERVER_NAME, Pki, Proxy, haproxy_tls, make_pki


def clean_env(tmp: Path, **extra: str) -> dict[str, str]:
    """The process environment without any Temporal settings, plus `extra`."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "ROLLWAY_TEMPORAL_"))
    }
    env["TEMPORAL_CONFIG_FILE"] = str(tmp / "no-such-temporal.toml")
    env["ROLLWAY_HOME"] = str(tmp / "home")
    env.update(extra)
    return env


@dataclass
class Ran:
    code: int
    stdout: str
    stderr: str

    @property
    def flat_err(self) -> str:
        return " ".join(self.stderr.split())


async def rollway(env: dict[str, str], *args: str) -> Ran:
    """The real `rollway` in a fresh interpreter (the console script's entry point)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "rollway.cli.main",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return Ran(proc.returncode, out.decode(), err.decode())


# --- where the settings come from (no server needed) ---------------------------------


def test_temporal_address_wins_over_rollway_fallback(tmp_path: Path) -> None:
    env = clean_env(
        tmp_path,
        TEMPORAL_ADDRESS="t.example:7233",
        TEMPORAL_NAMESPACE="payments",
        ROLLWAY_TEMPORAL_ADDRESS="old.example:7233",
    )
    s = load_settings(env=env)
    assert (s.address, s.namespace, s.source) == ("t.example:7233", "payments", "TEMPORAL_ADDRESS")
    assert s.tls is False


def test_rollway_address_still_works_alone(tmp_path: Path) -> None:
    s = load_settings(env=clean_env(tmp_path, ROLLWAY_TEMPORAL_ADDRESS="old.example:7233"))
    assert (s.address, s.namespace) == ("old.example:7233", "default")


def test_flags_win_and_profiles_are_read(tmp_path: Path) -> None:
    cfg = tmp_path / "temporal.toml"
    cfg.write_text(
        '[profile.default]\naddress = "file-default:7233"\n'
        '[profile.prod]\naddress = "prod.example:7233"\nnamespace = "prod"\n'
        'api_key = "k-123"\n'
    )
    env = clean_env(
        tmp_path, TEMPORAL_CONFIG_FILE=str(cfg), ROLLWAY_TEMPORAL_ADDRESS="old.example:7233"
    )
    # the explicit env var beats the implicit default profile of the file
    assert load_settings(env=env).address == "old.example:7233"
    prod = load_settings(Overrides(profile="prod"), env=env)
    assert (prod.address, prod.namespace, prod.api_key) == ("prod.example:7233", "prod", "k-123")
    assert prod.tls is True  # an API key turns TLS on, as in Temporal's SDKs
    assert load_settings(env={**env, "TEMPORAL_PROFILE": "prod"}).address == "prod.example:7233"
    flags = load_settings(Overrides(address="flag:1", namespace="ns", profile="prod"), env=env)
    assert (flags.address, flags.namespace) == ("flag:1", "ns")


def test_bad_settings_say_what_to_fix(tmp_path: Path) -> None:
    cfg = tmp_path / "temporal.toml"
    cfg.write_text('[profile.prod]\naddress = "prod.example:7233"\n')
    env = clean_env(tmp_path, TEMPORAL_CONFIG_FILE=str(cfg))
    with pytest.raises(TemporalConnectionError, match=r"profile 'staging'.*not found"):
        load_settings(Overrides(profile="staging"), env=env)
    missing = tmp_path / "missing-ca.pem"
    with pytest.raises(TemporalConnectionError, match=rf"TLS file.*{re.escape(str(missing))}"):
        load_settings(
            env={
                **env,
                "TEMPORAL_ADDRESS": "x:1",
                "TEMPORAL_TLS_SERVER_CA_CERT_PATH": str(missing),
            }
        )
    with pytest.raises(TemporalConnectionError, match="no Temporal server is configured"):
        load_settings(env=clean_env(tmp_path))


# --- a real TLS endpoint -------------------------------------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def proxy(
    dev_env: WorkflowEnvironment, pki: Pki, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Proxy]:
    upstream = dev_env.client.service_client.config.target_host
    with haproxy_tls(tmp_path_factory.mktemp("haproxy"), pki, upstream) as p:
        yield p


async def test_tls_from_temporal_env_vars(proxy: Proxy, pki: Pki, tmp_path: Path) -> None:
    tls = {
        "TEMPORAL_ADDRESS": proxy.tls,
        "TEMPORAL_TLS_SERVER_CA_CERT_PATH": str(pki.ca),
        "TEMPORAL_TLS_SERVER_NAME": SERVER_NAME,
    }
    r = await rollway(clean_env(tmp_path, **tls), "list", "-o", "json")
    assert r.code == 0, r.stderr
    assert isinstance(json.loads(r.stdout), list)

    r = await rollway(
        clean_env(tmp_path, **tls), "setup-namespace", "-o", "json"
    )  # the operator service through TLS too
    assert r.code == 0, r.stderr
    assert {a["status"] for a in json.loads(r.stdout)["attributes"]} == {"present"}

    # TLS on, but the server's CA unknown: the system roots do not trust it
    no_ca = {"TEMPORAL_ADDRESS": proxy.tls, "TEMPORAL_TLS": "true"}
    r = await rollway(clean_env(tmp_path, **no_ca), "list", "-o", "json")
    assert r.code == 1, r.stdout
    assert f"cannot reach Temporal at {proxy.tls}: TLS failed" in r.flat_err
    assert "TEMPORAL_TLS_SERVER_CA_CERT_PATH" in r.flat_err
    assert "Traceback" not in r.stderr

    # a CA that did not sign the server's certificate
    wrong = {**tls, "TEMPORAL_TLS_SERVER_CA_CERT_PATH": str(pki.other_ca)}
    r = await rollway(clean_env(tmp_path, **wrong), "list")
    assert r.code == 1 and "TLS failed" in r.flat_err, r.stderr

    # plaintext against a TLS port fails too, and says where it tried
    r = await rollway(clean_env(tmp_path, TEMPORAL_ADDRESS=proxy.tls), "list")
    assert r.code == 1 and f"cannot reach Temporal at {proxy.tls}" in r.flat_err, r.stderr


async def test_mtls_from_a_profile_for_cli_and_worker(
    proxy: Proxy, pki: Pki, tmp_path: Path
) -> None:
    cfg = tmp_path / "temporal.toml"
    cfg.write_text(
        f"""[profile.prod]
address = "{proxy.mtls}"
namespace = "default"

[profile.prod.tls]
server_name = "{SERVER_NAME}"
server_ca_cert_path = "{pki.ca}"
client_cert_path = "{pki.client_cert}"
client_key_path = "{pki.client_key}"

[profile.nocert]
address = "{proxy.mtls}"

[profile.nocert.tls]
server_name = "{SERVER_NAME}"
server_ca_cert_path = "{pki.ca}"
"""
    )
    env = clean_env(tmp_path, TEMPORAL_CONFIG_FILE=str(cfg))
    r = await rollway(env, "--profile", "prod", "list", "-o", "yaml")
    assert r.code == 0, r.stderr

    r = await rollway(env, "--profile", "nocert", "list")
    assert r.code == 1, r.stdout
    assert f"cannot reach Temporal at {proxy.mtls}" in r.flat_err

    # the worker connects with the same module and the same settings
    settings = load_settings(env={**env, "TEMPORAL_PROFILE": "prod"})
    client = await workers.main.connect(settings=settings)
    desc = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace="default")
    )
    assert desc.namespace_info.name == "default"
    with pytest.raises(SystemExit, match=f"cannot reach Temporal at {proxy.mtls}"):
        await workers.main.connect(settings=load_settings(Overrides(profile="nocert"), env=env))


async def test_api_key_from_env(proxy: Proxy, pki: Pki, tmp_path: Path) -> None:
    base = {
        "TEMPORAL_ADDRESS": proxy.apikey,
        "TEMPORAL_TLS_SERVER_CA_CERT_PATH": str(pki.ca),
        "TEMPORAL_TLS_SERVER_NAME": SERVER_NAME,
    }
    r = await rollway(clean_env(tmp_path, **base, TEMPORAL_API_KEY=API_KEY), "list", "-o", "json")
    assert r.code == 0, r.stderr
    r = await rollway(clean_env(tmp_path, **base, TEMPORAL_API_KEY="not-the-key-9f3"), "list")
    assert r.code == 1, r.stdout
    assert f"cannot reach Temporal at {proxy.apikey}: the server refused the credentials" in (
        r.flat_err
    )
    assert "not-the-key-9f3" not in r.stderr + r.stdout  # the key is never printed
