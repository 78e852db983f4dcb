"""The trusted pipeline catalog: where a worker loads pipelines from, by name.

A promotion names its pipeline; the worker reads it from the catalog it was
configured with, never from the workflow input (whoever can start a workflow
would otherwise choose the commands the worker runs). The catalog is a folder
(`ROLLWAY_PIPELINE_CATALOG`, default `./pipelines`), or a git repository at a ref
(`ROLLWAY_PIPELINE_CATALOG_GIT`, `ROLLWAY_PIPELINE_CATALOG_REF`, optional
`ROLLWAY_PIPELINE_CATALOG_DIR` inside it). An inline spec is accepted only by a
worker started with the development switch (`ROLLWAY_DEV_INLINE_PIPELINES=1` or
`--allow-inline-pipelines`). See docs/catalog.md.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from rollway.security.inputs import InputError, contained_path
from rollway.spec import PipelineSpec
from rollway.spec_loader import SpecError, load_pipeline

PIPELINE_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}(/[a-z0-9][a-z0-9_.-]{0,99}){0,4}$")
INLINE_SOURCE = "inline pipeline (development worker)"
GIT_TIMEOUT_S = 60.0

ENV_DIR = "ROLLWAY_PIPELINE_CATALOG"
ENV_GIT = "ROLLWAY_PIPELINE_CATALOG_GIT"
ENV_REF = "ROLLWAY_PIPELINE_CATALOG_REF"
ENV_SUBDIR = "ROLLWAY_PIPELINE_CATALOG_DIR"
ENV_INLINE = "ROLLWAY_DEV_INLINE_PIPELINES"


class CatalogError(Exception):
    """The pipeline cannot be loaded; the message says why and what to do.

    `retryable`: a git call failed (the network, a lock); a retry may succeed.
    """

    def __init__(self, message: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


def check_pipeline_name(value: str, field: str = "pipeline_name") -> str:
    """A catalog name: `demo` or `team/demo` (lowercase, digits, `._-`); never a path out."""
    name = value.removesuffix(".yaml").removesuffix(".yml") if isinstance(value, str) else value
    if (
        not isinstance(name, str)
        or not PIPELINE_NAME_RE.match(name)
        or any(part in (".", "..") or part.startswith("..") for part in name.split("/"))
    ):
        shown = repr(value)[:80]
        raise InputError(
            f"{field} {shown} is not a catalog name: use lowercase letters, digits and . _ -, "
            "folders separated by '/', no '..' (e.g. 'demo' or 'payments/api')"
        )
    return name


def spec_digest(spec: PipelineSpec) -> str:
    """`sha256:` of the spec's canonical JSON (what an inline spec is identified by)."""
    text = json.dumps(spec.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def file_digest(data: bytes) -> str:
    """`sha256:` of a pipeline file's bytes, as `sha256sum FILE` prints it."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Loaded:
    """A pipeline the worker vouches for: the spec, its digest, where it came from."""

    spec: PipelineSpec
    digest: str
    source: str
    folder: Path  # the pipeline file's folder: a build's `workdir` is relative to it
    inline: bool = False


@dataclass(frozen=True)
class CatalogConfig:
    """Where this worker's pipelines come from, and whether it takes inline specs."""

    folder: Path | None = None
    git: str | None = None
    ref: str = "main"
    subdir: str = "."
    allow_inline: bool = False
    cache: Path | None = None  # git checkouts; default $ROLLWAY_HOME/catalog

    @classmethod
    def from_env(cls, allow_inline: bool | None = None) -> CatalogConfig:
        """From the `ROLLWAY_PIPELINE_CATALOG*` variables; folder default `./pipelines`."""
        git = os.environ.get("ROLLWAY_PIPELINE_CATALOG_GIT") or None
        folder = os.environ.get("ROLLWAY_PIPELINE_CATALOG")
        inline = os.environ.get("ROLLWAY_DEV_INLINE_PIPELINES", "").lower() in ("1", "true", "yes")
        return cls(
            folder=Path(folder) if folder else (None if git else local_catalog()),
            git=git,
            ref=os.environ.get("ROLLWAY_PIPELINE_CATALOG_REF") or "main",
            subdir=os.environ.get("ROLLWAY_PIPELINE_CATALOG_DIR") or ".",
            allow_inline=inline if allow_inline is None else allow_inline,
        )

    def with_inline(self, allow: bool) -> CatalogConfig:
        return replace(self, allow_inline=allow)

    def describe(self) -> str:
        where = f"git {_public(self.git)} at {self.ref}" if self.git else f"folder {self.folder}"
        mode = "inline specs accepted (DEVELOPMENT)" if self.allow_inline else "no inline specs"
        return f"pipelines from the catalog ({where}); {mode}"

    # --- loading -------------------------------------------------------------------------

    def load(self, service: str, name: str | None, inline: PipelineSpec | None) -> Loaded:
        """The pipeline for `service`: by name from the catalog, or inline (development only)."""
        if inline is not None:
            if not self.allow_inline:
                raise CatalogError(
                    "this worker runs pipelines from its catalog only and refuses an inline "
                    "pipeline spec: name the pipeline (pipeline_name, `rollway promote "
                    "--pipeline NAME`) and add it to the catalog, or start a development "
                    f"worker with {ENV_INLINE}=1 (--allow-inline-pipelines)"
                )
            check_service(inline, service, "inline pipeline")
            check_worker_fields(inline, "inline pipeline")
            return Loaded(inline, spec_digest(inline), INLINE_SOURCE, Path("."), inline=True)
        try:
            clean = check_pipeline_name(name or service)
        except InputError as e:
            raise CatalogError(str(e)) from None
        if self.git:
            folder, where = self._git_tree()
        elif self.folder is not None:
            folder, where = self.folder, f"catalog {self.folder}"
        else:
            raise CatalogError(f"this worker has no pipeline catalog: set {ENV_DIR} or {ENV_GIT}")
        path = self._file(folder, clean)
        data = path.read_bytes()
        try:
            spec = load_pipeline(path)
        except SpecError as e:
            raise CatalogError(f"catalog pipeline '{clean}' is invalid: {e}") from None
        check_service(spec, service, f"catalog pipeline '{clean}'")
        check_worker_fields(spec, f"catalog pipeline '{clean}'")
        rel = path.relative_to(folder.resolve())
        return Loaded(spec, file_digest(data), f"{where} {rel}", path.parent)

    def _file(self, folder: Path, name: str) -> Path:
        try:
            root = contained_path(folder, self.subdir, field="catalog folder")
            for suffix in (".yaml", ".yml"):
                path = contained_path(root, name + suffix, field="pipeline_name")
                if path.is_file():
                    return path
        except InputError as e:
            raise CatalogError(str(e)) from None
        known = sorted(p.stem for p in root.glob("*.yaml")) if root.is_dir() else []
        raise CatalogError(
            f"no pipeline '{name}' in the catalog ({root}); known: {', '.join(known) or 'none'}"
        )

    # --- git -----------------------------------------------------------------------------

    def _git_tree(self) -> tuple[Path, str]:
        """The catalog repository's tree at `ref`, exported once per commit under the cache."""
        assert self.git is not None
        if self.ref.startswith("-"):
            raise CatalogError(f"{ENV_REF} {self.ref!r} is not a ref")
        cache = self.cache or _default_cache()
        key = hashlib.sha256(self.git.encode()).hexdigest()[:16]
        mirror = cache / "git" / f"{key}.git"
        if not (mirror / "HEAD").exists():
            mirror.parent.mkdir(parents=True, exist_ok=True)
            _git("init", "--quiet", "--bare", str(mirror))
        _git("--git-dir", str(mirror), "fetch", "--quiet", "--force", self.git, self.ref)
        commit = _git("--git-dir", str(mirror), "rev-parse", "FETCH_HEAD^{commit}").strip()
        tree = cache / "trees" / commit
        if not tree.is_dir():
            archive = subprocess.run(
                ["git", "--git-dir", str(mirror), "archive", "--format=tar", commit],
                capture_output=True,
                timeout=GIT_TIMEOUT_S,
                check=False,
            )
            if archive.returncode != 0:
                raise CatalogError(
                    f"git archive of {commit}: {archive.stderr.decode()[-500:]}", retryable=True
                )
            tmp = tree.with_name(f"{commit}.tmp-{os.getpid()}-{time.monotonic_ns()}")
            with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
                tar.extractall(tmp, filter="data")  # no absolute paths, links out, devices
            try:
                tmp.rename(tree)
            except OSError:  # another load exported the same commit meanwhile
                shutil.rmtree(tmp, ignore_errors=True)
        return tree, f"git {_public(self.git)} at {self.ref} (commit {commit[:12]})"


def local_catalog() -> Path:
    """This machine's catalog folder: $ROLLWAY_PIPELINE_CATALOG, else ./pipelines when it
    exists, else the Rollway checkout's pipelines/ (the local stack's worker uses the same)."""
    env = os.environ.get("ROLLWAY_PIPELINE_CATALOG")
    if env:
        return Path(env)
    here = Path.cwd() / "pipelines"
    if here.is_dir():
        return here
    checkout = Path(__file__).resolve().parent.parent / "pipelines"
    return checkout if checkout.is_dir() else here


def check_service(spec: PipelineSpec, service: str, what: str) -> None:
    if spec.service != service:
        raise CatalogError(
            f"{what} is for service '{spec.service}', not '{service}': "
            f"name the pipeline of '{service}'"
        )


def check_worker_fields(spec: PipelineSpec, what: str) -> None:
    """Refuse fields that would choose the worker's credentials (`rollway.spec_worker`)."""
    from rollway.spec_worker import refused_fields

    if problems := refused_fields(spec):
        raise CatalogError(f"{what}: " + "; ".join(f"{p}: {m}" for p, m in problems))


def _public(url: str) -> str:
    """A repository URL without credentials (`https://user:token@host/…` -> `https://host/…`)."""
    return re.sub(r"([a-z][a-z0-9+.-]*://)[^/@\s]*@", r"\1", url)


def _default_cache() -> Path:
    from rollway.home import home

    return home() / "catalog"


def _verb(args: tuple[str, ...]) -> str:
    return args[2] if args[:1] == ("--git-dir",) and len(args) > 2 else args[0]


def _git(*args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args], capture_output=True, text=True, timeout=GIT_TIMEOUT_S, check=False
        )
    except FileNotFoundError:
        raise CatalogError("the `git` command is not installed on this worker") from None
    except subprocess.TimeoutExpired:
        raise CatalogError(
            f"git {_verb(args)} timed out after {GIT_TIMEOUT_S:.0f}s", retryable=True
        ) from None
    if done.returncode != 0:
        raise CatalogError(
            f"git {_verb(args)}: {_public(done.stderr.strip()[-500:])}", retryable=True
        )
    return done.stdout
