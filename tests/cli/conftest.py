"""The CLI fixtures (tests/support/cli.py): a dev server worker, a runner, pipelines."""

from tests.support.cli import cli, end_promotions, pipeline, worker

__all__ = ["cli", "end_promotions", "pipeline", "worker"]
