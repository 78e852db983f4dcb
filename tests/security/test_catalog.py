"""Pipelines come from the worker's trusted catalog; the workflow input only names one.

The attack: whoever can start a workflow on the task queue sent a whole pipeline spec,
and the worker ran its `build.command`. Now a catalog worker refuses an inline spec
before anything runs (the real `build` activity is registered here, so a command that
slipped through would really create its file), loads pipelines by name from a folder
or from a git repository at a ref, and records the file's sha256 in the state and the
audit trail.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from typer.testing import CliRunner

from activities.build import build
from activities.catalog import catalog_activity
from rollway.cli.common import UserError
from rollway.cli.main import app
from rollway.cli.promote import build_input
from rollway.cli.status import pipeline_line
from rollway.models import LoadedPipeline, LoadPipelineInput, Outcome, PromotionInput, Stage
from rollway.platform.base import PlatformError
from rollway.platform.registry import platform_for
from rollway.spec_catalog import INLINE_SOURCE, CatalogConfig, file_digest, spec_digest
from rollway.spec_loader import parse_pipeline
from tests.histories.record import save_history
from tests.support.binaries import ROOT
from tests.support.fake_world import FakeWorld
from tests.support.promotions import pipeline, wait_until
from tests.support.release_control import GROUPS, release_run
from workers.main import catalog_config


@pytest.fixture
def rollway_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("ROLLWAY_HOME", str(home))
    return home


def touching(marker: Path) -> dict[str, Any]:
    """A pipeline whose build writes its working folder into `marker`."""
    spec = pipeline()
    spec["build"] = {"command": ["sh", "-c", f'pwd > "{marker}"'], "workdir": "."}
    return spec


def catalog_folder(root: Path, specs: dict[str, dict[str, Any]]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, spec in specs.items():
        path = root / f"{name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return root


def world(catalog: CatalogConfig) -> FakeWorld:
    return FakeWorld(groups=GROUPS, catalog=catalog)


def load(config: CatalogConfig, **inp: Any) -> LoadedPipeline:
    result: LoadedPipeline = ActivityEnvironment().run(
        catalog_activity(config), LoadPipelineInput(**inp)
    )
    return result


# --- through the workflow ----------------------------------------------------------------


async def test_an_inline_spec_on_a_catalog_worker_is_refused_and_runs_nothing(
    ts_env: WorkflowEnvironment, tmp_path: Path, rollway_home: Path
) -> None:
    marker = tmp_path / "owned"
    catalog = CatalogConfig(folder=catalog_folder(tmp_path / "catalog", {}), allow_inline=False)
    async with release_run(ts_env, world(catalog), real=[build]) as run:
        handle = await run.start(touching(marker), pipeline_dir=str(tmp_path))
        result = await handle.result()
        save_history(await handle.fetch_history(), "catalog-inline-refused")
    assert result.outcome == Outcome.FAILED
    assert "refuses an inline pipeline" in result.reason
    assert "ROLLWAY_DEV_INLINE_PIPELINES=1" in result.reason  # names the fix
    assert not marker.exists(), "the inline build command ran on a catalog worker"
    assert run.world.calls == []  # no build, no deploy, nothing else either
    state = result.state
    assert state is not None and state.pipeline_digest is None
    refused = [a for a in state.audit if a.action == "load pipeline inline"]
    assert refused and not refused[0].accepted and refused[0].by == "rollway"


async def test_the_same_inline_spec_runs_on_a_development_worker(
    ts_env: WorkflowEnvironment, tmp_path: Path, rollway_home: Path
) -> None:
    """The control for the refusal above: the command does run where inline is allowed."""
    marker = tmp_path / "built"
    spec = touching(marker)
    catalog = CatalogConfig(folder=catalog_folder(tmp_path / "catalog", {}), allow_inline=True)
    async with release_run(ts_env, world(catalog), real=[build]) as run:
        handle = await run.start(spec, pipeline_dir=str(tmp_path))
        state = await wait_until(handle, lambda s: s.stage == Stage.APPROVAL)
    assert marker.read_text().strip() == str(tmp_path)
    assert state.pipeline_source == INLINE_SOURCE
    assert state.pipeline_digest == spec_digest(parse_pipeline(spec))
    assert "inline pipeline (development worker)" in pipeline_line(state).plain  # type: ignore[union-attr]


async def test_a_pipeline_is_loaded_by_name_from_the_catalog_with_its_digest(
    ts_env: WorkflowEnvironment, tmp_path: Path, rollway_home: Path
) -> None:
    marker = tmp_path / "built"
    folder = catalog_folder(tmp_path / "catalog", {"team/demo": touching(marker)})
    catalog = CatalogConfig(folder=folder, allow_inline=False)
    async with release_run(ts_env, world(catalog), real=[build]) as run:
        handle = await run.start(pipeline_name="team/demo", service="demo")
        state = await wait_until(handle, lambda s: s.stage == Stage.APPROVAL)
        await handle.signal("reject", {"by": "rm-ann", "comment": "recorded"})
        result = await handle.result()
        save_history(await handle.fetch_history(), "catalog-by-name-rejected")
    digest = file_digest((folder / "team" / "demo.yaml").read_bytes())
    assert state.pipeline == "team/demo"
    assert state.pipeline_digest == digest
    assert state.pipeline_source == f"catalog {folder} team/demo.yaml"
    # The catalog's command ran, in its workdir relative to the catalog file's folder.
    assert marker.read_text().strip() == str(folder / "team")
    loaded = next(a for a in state.audit if a.action == "load pipeline team/demo")
    assert loaded.accepted and digest in loaded.reason
    assert result.outcome == Outcome.REJECTED
    assert result.state is not None and result.state.pipeline_digest == digest
    line = pipeline_line(state)
    assert line is not None and digest.removeprefix("sha256:")[:16] in line.plain


async def test_a_catalog_pipeline_of_another_service_is_refused(
    ts_env: WorkflowEnvironment, tmp_path: Path, rollway_home: Path
) -> None:
    marker = tmp_path / "built"
    folder = catalog_folder(tmp_path / "catalog", {"other": touching(marker)})
    async with release_run(ts_env, world(CatalogConfig(folder=folder)), real=[build]) as run:
        handle = await run.start(pipeline_name="other", service="orders")
        result = await handle.result()
    assert result.outcome == Outcome.FAILED
    assert "is for service 'demo', not 'orders'" in result.reason
    assert not marker.exists()


# --- names and paths ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["../../etc/passwd", "/etc/passwd", "a/../../b", "..", "demo/..", "Demo", "a\\b"]
)
def test_a_pipeline_name_with_a_path_in_it_is_refused_at_the_input(name: str) -> None:
    with pytest.raises(ValidationError, match="is not a catalog name"):
        PromotionInput(service="demo", version="v2", commit="abc1234", pipeline_name=name)


def test_the_catalog_refuses_traversal_even_without_the_input_check(tmp_path: Path) -> None:
    folder = catalog_folder(tmp_path / "catalog", {})
    (tmp_path / "outside.yaml").write_text(yaml.safe_dump(pipeline()))
    (folder / "link.yaml").symlink_to(tmp_path / "outside.yaml")  # a symlink out
    config = CatalogConfig(folder=folder)
    with pytest.raises(ApplicationError, match="is not a catalog name") as e:
        load(config, service="demo", name="../outside")
    assert e.value.non_retryable
    with pytest.raises(ApplicationError, match=r"leaves .*catalog"):
        load(config, service="demo", name="link")


def test_an_unknown_name_lists_what_the_catalog_holds(tmp_path: Path) -> None:
    folder = catalog_folder(tmp_path / "catalog", {"demo": pipeline()})
    with pytest.raises(ApplicationError, match=r"no pipeline 'nope' .*known: demo"):
        load(CatalogConfig(folder=folder), service="demo", name="nope")


# --- a git repository at a ref -------------------------------------------------------------


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True, timeout=30
    ).stdout.strip()


def test_a_git_catalog_serves_the_ref_it_is_configured_with(tmp_path: Path) -> None:
    bare = tmp_path / "pipelines.git"
    git(tmp_path, "init", "--quiet", "--bare", "-b", "main", str(bare))
    work = tmp_path / "work"
    git(tmp_path, "clone", "--quiet", str(bare), str(work))
    git(work, "config", "user.email", "ci@example.com")
    git(work, "config", "user.name", "ci")
    first = pipeline(description="reviewed")
    catalog_folder(work / "pipelines", {"demo": first})
    git(work, "add", "-A")
    git(work, "commit", "--quiet", "-m", "demo pipeline")
    git(work, "push", "--quiet", "origin", "HEAD:main", "HEAD:refs/heads/release")
    reviewed = (work / "pipelines" / "demo.yaml").read_bytes()
    commit = git(work, "rev-parse", "HEAD")
    # main moves on; the worker follows `release` only
    catalog_folder(work / "pipelines", {"demo": pipeline(description="unreviewed")})
    git(work, "commit", "--quiet", "-am", "change")
    git(work, "push", "--quiet", "origin", "HEAD:main")

    config = CatalogConfig(git=str(bare), ref="release", subdir="pipelines", cache=tmp_path / "c")
    loaded = load(config, service="demo")
    assert loaded.spec.description == "reviewed"
    assert loaded.digest == file_digest(reviewed)
    assert f"(commit {commit[:12]}) pipelines/demo.yaml" in loaded.source
    # The build's folder is the exported tree of that commit.
    assert Path(loaded.pipeline_dir) == tmp_path / "c" / "trees" / commit / "pipelines"

    git(work, "push", "--quiet", "--force", "origin", "HEAD:refs/heads/release")
    moved = load(config, service="demo")
    assert moved.spec.description == "unreviewed" and moved.digest != loaded.digest
    with pytest.raises(ApplicationError, match="refuses an inline pipeline"):
        load(config, service="demo", inline=parse_pipeline(pipeline()))


def test_a_git_catalog_that_cannot_be_fetched_is_a_retryable_error(tmp_path: Path) -> None:
    config = CatalogConfig(git=str(tmp_path / "missing.git"), cache=tmp_path / "c")
    with pytest.raises(ApplicationError, match="git fetch") as e:
        load(config, service="demo")
    assert not e.value.non_retryable


# --- the CLI sends a name ------------------------------------------------------------------


def test_promote_sends_the_catalog_name_of_a_local_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = catalog_folder(tmp_path / "catalog", {"demo": pipeline()})
    monkeypatch.setenv("ROLLWAY_PIPELINE_CATALOG", str(folder))
    by_file = build_input("demo", "v2", "abc1234", str(folder / "demo.yaml"), "ci")
    assert by_file.inp.pipeline is None and by_file.inp.pipeline_name == "demo"
    assert by_file.spec is not None  # validated locally for early errors
    by_default = build_input("demo", "v2", "abc1234", None, "ci")
    assert by_default.inp.pipeline_name == "demo"
    remote = build_input("demo", "v2", "abc1234", "payments/api", "ci")  # only the worker has it
    assert remote.inp.pipeline_name == "payments/api" and remote.spec is None

    elsewhere = catalog_folder(tmp_path / "elsewhere", {"demo": pipeline()}) / "demo.yaml"
    with pytest.raises(UserError, match=r"is not in the pipeline catalog.*--inline"):
        build_input("demo", "v2", "abc1234", str(elsewhere), "ci")
    inline = build_input("demo", "v2", "abc1234", str(elsewhere), "ci", inline=True)
    assert inline.inp.pipeline is not None and inline.inp.pipeline_name is None
    assert inline.inp.pipeline_dir == str(elsewhere.parent)


# --- platform credentials are worker configuration -----------------------------------------


def shop_with(**cluster: Any) -> dict[str, Any]:
    spec = yaml.safe_load((ROOT / "pipelines" / "shop.yaml").read_text())
    spec["environments"]["production"]["platform"]["clusters"][0].update(cluster)
    return dict(spec)


def test_a_pipeline_choosing_a_kubeconfig_file_is_refused(tmp_path: Path) -> None:
    folder = catalog_folder(tmp_path / "catalog", {"shop": shop_with(kubeconfig="/tmp/mine")})
    field = "environments.production.platform.clusters[0].kubeconfig"
    with pytest.raises(ApplicationError, match=re.escape(field) + ".*ROLLWAY_WORKER_CONFIG"):
        load(CatalogConfig(folder=folder), service="shop")
    dev = CatalogConfig(folder=folder, allow_inline=True)  # inline specs are checked too
    with pytest.raises(ApplicationError, match=re.escape(field)):
        load(dev, service="shop", inline=parse_pipeline(shop_with(kubeconfig="/tmp/mine")))


def test_the_workers_credentials_and_namespaces_replace_the_pipelines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "worker.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "kubernetes": {
                    "kubeconfig": str(tmp_path / "kubeconfig"),
                    "clusters": {
                        "eu-west-1": {"context": "worker-eu"},
                        "us-east-1": {"in_cluster": True},
                        "staging": {"context": "worker-staging"},
                    },
                    "writable_namespaces": ["shop"],
                }
            }
        )
    )
    monkeypatch.setenv("ROLLWAY_WORKER_CONFIG", str(config))
    # an execution from before the catalog may still carry a kubeconfig: it is ignored
    spec = parse_pipeline(shop_with(kubeconfig="/tmp/mine", context="pipeline-eu"))
    platform = platform_for(spec.environments["production"], None)
    eu, us = platform.config.clusters  # type: ignore[attr-defined]
    assert (eu.context, eu.kubeconfig) == ("worker-eu", str(tmp_path / "kubeconfig"))
    assert us.in_cluster and us.kubeconfig == str(tmp_path / "kubeconfig")
    assert platform.config.writable_namespaces == {"shop"}  # type: ignore[attr-defined]
    # staging writes shop-staging and argocd, which this worker may not write
    with pytest.raises(PlatformError, match="'shop-staging' is not among this worker's"):
        platform_for(spec.environments["staging"], None)
    # a cluster the worker has no credentials for is refused, whatever the pipeline says
    other = parse_pipeline(shop_with(name="ap-south-1", context="prod-ap"))
    with pytest.raises(PlatformError, match="cluster 'ap-south-1' has no credentials"):
        platform_for(other.environments["production"], None)


def test_validate_reports_a_kubeconfig_field_like_the_catalog(tmp_path: Path) -> None:
    path = tmp_path / "shop.yaml"
    path.write_text(yaml.safe_dump(shop_with(kubeconfig="/tmp/mine")))
    r = CliRunner().invoke(app, ["validate", str(path)], env={"COLUMNS": "300"})
    assert r.exit_code == 2
    assert "environments.production.platform.clusters[0].kubeconfig: a kubeconfig file" in (
        " ".join(r.output.split())
    )


def test_only_an_explicit_switch_makes_a_development_worker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ROLLWAY_DEV_INLINE_PIPELINES", raising=False)
    assert not catalog_config([]).allow_inline  # the default refuses inline specs
    assert catalog_config(["--allow-inline-pipelines"]).allow_inline
    monkeypatch.setenv("ROLLWAY_DEV_INLINE_PIPELINES", "1")
    assert catalog_config([]).allow_inline
    with pytest.raises(SystemExit, match="unknown argument"):
        catalog_config(["--allow-inline"])
