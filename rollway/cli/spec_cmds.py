"""`rollway validate` and `rollway schema`: pipeline specs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from rollway.cli.common import out


def validate(
    files: Annotated[list[Path], typer.Argument(help="Pipeline YAML files.")],
) -> None:
    """Check pipeline files; print every problem with its path (exit 2 if any is invalid)."""
    from rollway.spec_loader import SpecError, load_pipeline
    from rollway.spec_worker import refused_fields

    console = out()
    bad = 0
    for f in files:
        try:
            spec = load_pipeline(f)
            if problems := refused_fields(spec):  # what a worker's catalog would refuse
                raise SpecError(str(f), problems)
        except SpecError as e:
            bad += 1
            console.print(f"[red]{escape(str(f))}: {len(e.problems)} problem(s)[/red]")
            for path, msg in e.problems:
                console.print(
                    f"  {escape(path)}: {escape(msg)}" if path else f"  {escape(msg)}",
                    soft_wrap=True,
                )
            continue
        console.print(f"{escape(str(f))}: [green]OK[/green] (service {escape(spec.service)})")
    if bad:
        raise typer.Exit(2)


def schema() -> None:
    """Print the JSON Schema of pipeline files (for editors)."""
    from rollway.spec_loader import json_schema

    typer.echo(json_schema())
