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
    except RecursionError:
        raise SpecError(source, [("", "nested too deeply to be a pipeline")]) from None


MAX_SPEC_BYTES = 1024 * 1024
MAX_ALIASES = 100
"""YAML aliases a pipeline may use: enough for sharing, too few for an alias bomb."""


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing alias bombs (nested aliases cost memory and time)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise yaml.YAMLError(f"more than {MAX_ALIASES} aliases (*name): write it out")
        return super().compose_node(parent, index)


def parse_yaml(text: str, source: str) -> Any:
    """Parse YAML safely: bounded aliases and nesting, errors as `SpecError`."""
    try:
        loader = _BoundedLoader(text)
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.YAMLError as e:
        raise SpecError(source, [("", f"not valid YAML: {e}")]) from None
    except RecursionError:
        raise SpecError(source, [("", "nested too deeply to be a pipeline")]) from None


def load_pipeline(path: str | Path) -> PipelineSpec:
    """Read and validate a pipeline YAML file (UTF-8, at most 1 MiB)."""
    p = Path(path)
    try:
        if p.is_dir():
            raise SpecError(str(p), [("", "is a folder; name the pipeline file(s) inside it")])
        raw = p.read_bytes()
    except FileNotFoundError:
        raise SpecError(str(p), [("", "file not found")]) from None
    except OSError as e:
        raise SpecError(str(p), [("", f"cannot read it: {e.strerror or e}")]) from None
    if len(raw) > MAX_SPEC_BYTES:
        raise SpecError(str(p), [("", f"larger than {MAX_SPEC_BYTES // 1024} KiB")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SpecError(
            str(p), [("", f"not UTF-8 (byte {e.start}); save the file as UTF-8")]
        ) from None
    return parse_pipeline(parse_yaml(text, str(p)), str(p))


def json_schema() -> str:
    """The JSON Schema of a pipeline spec, for editors."""
    return json.dumps(PipelineSpec.model_json_schema(mode="validation"), indent=2)
