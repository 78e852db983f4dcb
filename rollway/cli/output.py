"""`-o json|yaml|table` for every read command, and the exit codes every command shares."""

from __future__ import annotations

import json
from collections.abc import Callable
from enum import IntEnum, StrEnum
from typing import Annotated, Any

import typer


class Format(StrEnum):
    """How a read command prints: a table for people, JSON or YAML for programs."""

    TABLE = "table"
    JSON = "json"
    YAML = "yaml"


OutputOpt = Annotated[
    Format,
    typer.Option(
        "--output",
        "-o",
        help="table for people; json or yaml for scripts (stable field names).",
        case_sensitive=False,
    ),
]


class Exit(IntEnum):
    """Exit codes of every `rollway` command (documented in docs/cli.md)."""

    OK = 0
    """Done; for `promote --wait`: promoted."""
    FAILED = 1
    """Refused or failed: a refused decision, an unknown id, Temporal unreachable."""
    USAGE = 2
    """Invalid input: a bad flag or an invalid pipeline file."""
    ROLLED_BACK = 3
    """`promote --wait`: the canary was rolled back (automatically or by a person)."""
    REJECTED = 4
    """`promote --wait`: rejected at approval (or no approval before its timeout)."""
    ABORTED = 5
    """`promote --wait`: aborted, superseded by a newer commit, or terminated."""
    PROMOTION_FAILED = 6
    """`promote --wait`: failed (a build, deploy or smoke check error; the scan gate blocked it)."""
    TIMEOUT = 7
    """`promote --wait --timeout`: still running when the timeout passed."""
    INTERRUPTED = 130
    """Ctrl-C; a promotion already started goes on."""


OUTCOME_EXIT: dict[str, Exit] = {
    "promoted": Exit.OK,
    "rolled_back": Exit.ROLLED_BACK,
    "rejected": Exit.REJECTED,
    "aborted": Exit.ABORTED,
    "superseded": Exit.ABORTED,
    "terminated": Exit.ABORTED,
    "failed": Exit.PROMOTION_FAILED,
    "running": Exit.TIMEOUT,
}
"""The exit code of `promote --wait` for each outcome."""


def dump(data: Any, fmt: Format) -> str:
    """`data` (JSON-compatible) as JSON or YAML text."""
    if fmt == Format.YAML:
        import yaml

        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True).rstrip("\n")
    return json.dumps(data, indent=2, ensure_ascii=False)


def emit(data: Any, fmt: Format, table: Callable[[], None]) -> None:
    """Print `data` as JSON/YAML, or call `table` to print it for people."""
    if fmt == Format.TABLE:
        table()
    else:
        typer.echo(dump(data, fmt))
