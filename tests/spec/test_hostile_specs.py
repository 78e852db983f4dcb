"""Hostile or broken pipeline files get a clean error naming the file and field, never a crash.

A fuzzer over the shipped pipelines (bounded in time) plus the crashes it once found.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from typer.testing import CliRunner

from rollway.cli.main import app
from rollway.models import PromotionInput
from rollway.spec_loader import SpecError, load_pipeline, parse_pipeline

ROOT = Path(__file__).resolve().parents[2]
PIPELINES = sorted((ROOT / "pipelines").glob("*.yaml"))
DOCS = [yaml.safe_load(p.read_text()) for p in PIPELINES]

ORDER = (ROOT / "pipelines" / "order-service.yaml").read_text()


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    p = tmp_path / name
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_text(content)
    return p


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("service: caf\xe9\n".encode("latin-1"), "not UTF-8"),
        (ORDER.replace("soak: 15m", "soak: 99999999999d"), "far too long"),
        (ORDER.replace("America/New_York", "A" * 300, 1), "time zone"),
        (ORDER.replace("America/New_York", "America", 1), "unknown time zone"),
        ("a: " + "[" * 2000 + "]" * 2000 + "\n", "nested too deeply"),
        (
            "service: x\n"
            + "".join(f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}]\n" for i in range(1, 60)).replace(
                "*a0, *a0", "1, 2"
            ),
            "aliases",
        ),
    ],
    ids=[
        "latin-1",
        "overflowing-soak",
        "300-char-zone",
        "zone-is-a-folder",
        "deep-nesting",
        "alias-bomb",
    ],
)
def test_known_crashes_are_clean_errors(
    tmp_path: Path, content: str | bytes, words: str | None
) -> None:
    path = write(tmp_path, "p.yaml", content)
    with pytest.raises(SpecError) as e:
        load_pipeline(path)
    assert str(path) in str(e.value)
    if words is not None:
        assert words in str(e.value), str(e.value)


def test_a_folder_is_a_clean_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="is a folder"):
        load_pipeline(tmp_path)


def test_validate_reports_every_file_even_when_one_is_broken(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.yaml", b"\xff\xfe broken")
    good = ROOT / "pipelines" / "demo.yaml"
    result = CliRunner().invoke(app, ["validate", str(bad), str(tmp_path), str(good)])
    assert result.exit_code == 2
    assert "bad.yaml" in result.output and "not UTF-8" in result.output
    assert "is a folder" in result.output
    assert "demo.yaml: OK" in result.output


# --- the fuzzer: random values at random places of the shipped pipelines -------------

LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(
        [
            "99999999999d",
            "1y",
            "-5m",
            "../../etc/passwd",
            "America",
            "A" * 300,
            "${version}",
            "\x00",
            "24:61",
        ]
    ),
)
VALUES = st.recursive(
    LEAVES,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fuzzed_pipelines_validate_or_fail_cleanly(data: st.DataObject) -> None:
    doc = copy.deepcopy(data.draw(st.sampled_from(DOCS)))
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        paths = _paths(doc)
        path = data.draw(st.sampled_from(paths))
        value = data.draw(VALUES)
        if not path:
            doc = value
            break
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = value
    try:
        parse_pipeline(doc)
    except SpecError as e:
        assert e.problems
        for where, message in e.problems:
            assert isinstance(where, str) and message


@settings(max_examples=200, deadline=None)
@given(service=st.text(max_size=60), version=st.text(max_size=140), commit=st.text(max_size=70))
def test_fuzzed_workflow_inputs_are_checked(service: str, version: str, commit: str) -> None:
    pipeline = parse_pipeline(DOCS[PIPELINES.index(ROOT / "pipelines" / "demo.yaml")])
    try:
        inp = PromotionInput(service=service, version=version, commit=commit, pipeline=pipeline)
    except ValidationError:
        return
    for value in (inp.service, inp.version, inp.commit):  # what passed cannot be a path or query
        assert "/" not in value and ".." not in value and '"' not in value and "\\" not in value
