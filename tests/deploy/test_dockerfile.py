"""The worker image's Dockerfile: hadolint, plus what a linter does not know."""

from __future__ import annotations

import re
import tomllib

from tests.support.deploy import (
    ROOT,
    dockerignore_allows,
    instructions,
    run_validator,
    stages,
)


def test_hadolint_passes() -> None:
    r = run_validator("hadolint", "--failure-threshold", "info", "Dockerfile")
    assert r.returncode == 0, r.stdout + r.stderr


def test_base_images_pinned() -> None:
    args = dict(a.split("=", 1) for word, a in instructions() if word == "ARG" and "=" in a)
    for word, a in instructions():
        if word == "FROM":
            image = a.split()[0]
            image = re.sub(r"\$\{(\w+)\}", lambda m: args[m[1]], image)
            tag = image.rpartition(":")[2]
            assert tag != "latest" and re.search(r"\d", tag), image


def test_multi_stage_build_with_the_lock_file() -> None:
    build = stages()[-2]
    runs = " ".join(a for w, a in build if w == "RUN")
    assert "uv sync --frozen --no-dev" in runs
    assert "--no-editable" in runs  # the runtime stage gets no source tree
    copies = [a for w, a in build if w == "COPY"]
    assert any("uv.lock" in c for c in copies)


def test_runtime_stage_has_no_build_tools_and_runs_unprivileged() -> None:
    runtime = stages()[-1]
    text = " ".join(a for _, a in runtime)
    for tool in ("uv ", "/uv", "gcc", "build-essential", "make ", "apt-get install", "pip install"):
        assert tool not in text, f"runtime stage carries {tool!r}"
    copies = [a for w, a in runtime if w == "COPY"]
    assert copies == ["--from=build /app/.venv /app/.venv"], copies
    users = [a for w, a in runtime if w == "USER"]
    assert users and users[-1] not in ("root", "0"), users
    args = dict(a.split("=", 1) for w, a in runtime if w == "ARG" and "=" in a)
    uid = re.sub(r"\$\{(\w+)\}", lambda m: args[m[1]], users[-1])
    assert uid.isdigit() and int(uid) >= 1000  # numeric: runAsNonRoot can verify it


def test_health_check_and_entrypoint() -> None:
    runtime = dict((w, a) for w, a in stages()[-1])
    assert "/readyz" in runtime["HEALTHCHECK"] and "--interval" in runtime["HEALTHCHECK"]
    assert runtime["ENTRYPOINT"] == '["python", "-m", "workers.main"]'
    assert 'if __name__ == "__main__":' in (ROOT / "workers/main.py").read_text()
    assert runtime["STOPSIGNAL"] == "SIGTERM"


def test_context_holds_what_the_build_copies_and_nothing_else() -> None:
    sources = []
    for w, a in stages()[-2]:
        if w == "COPY" and not a.startswith("--from"):
            sources += a.split()[:-1]
    for src in sources:
        assert (ROOT / src).exists() and dockerignore_allows(src.rstrip("/")), src
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"][
        "targets"
    ]["wheel"]["packages"]
    assert {p + "/" for p in packages} <= set(sources), "the wheel needs every package copied"
    for kept_out in (".venv", ".git", "tests", "bench", "docs", "examples"):
        assert not dockerignore_allows(kept_out), kept_out
