"""Load pipeline specs from YAML and report every problem with its path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from rollway.spec import PipelineSpec


class SpecError(Exception):
    """A pipeline spec is invalid; `problems` holds `(path, message)` pairs."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        lines = [f"{source}: {len(problems)} problem(s)"]
        lines += [f"  {path}: {msg}" if path else f"  {msg}" for path, msg in problems]
        super().__init__("\n".join(lines))


_TAGS = {"command", "none", "codebuild", "local", "kubernetes", "sarif", "ecr", "s3-sarif"}
"""Discriminated-union tags pydantic puts in error paths; users never wrote them."""


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in _TAGS and out.endswith(("build", "scan", "platform")):
            continue  # discriminated-union tag: not a path the user wrote
        else:
            out += f".{part}" if out else str(part)
    return out


def problems_of(error: ValidationError) -> list[tuple[str, str]]:
    """Turn a pydantic error into `(path, message)` pairs users can act on."""
    problems = []
    for e in error.errors():
        path = _path(tuple(e["loc"]))
        msg = str(e["msg"]).removeprefix("Value error, ")
        if msg.startswith("@"):  # a nested path raised by a validator, see spec._sub
            sub, _, msg = msg[1:].partition(": ")
            path = f"{path}{sub}" if sub.startswith("[") or not path else f"{path}.{sub}"
        if e["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling; `rollway schema` lists the fields)"
        elif e["type"] == "missing":
            msg = "required field is missing"
        problems.append((path, msg))
    return problems


def parse_pipeline(data: Any, source: str = "<spec>") -> PipelineSpec:
    """Validate already-parsed YAML/JSON data."""
    if not isinstance(data, dict):
        raise SpecError(source, [("", "the document must be a mapping with 'service:' etc.")])
    try:
        return PipelineSpec.model_validate(data)
    except ValidationError as e:
        raise SpecError(source, problems_of(e)) from None


def load_pipeline(path: str | Path) -> PipelineSpec:
    """Read and validate a pipeline YAML file."""
    p = Path(path)
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise SpecError(str(p), [("", "file not found")]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise SpecError(str(p), [("", f"not valid YAML: {e}")]) from None
    return parse_pipeline(data, str(p))


def json_schema() -> str:
    """The JSON Schema of a pipeline spec, for editors."""
    return json.dumps(PipelineSpec.model_json_schema(mode="validation"), indent=2)
