"""CLI fixtures shared by the CLI test modules (defined in test_cli_temporal)."""

from tests.cli.test_cli_temporal import cli, end_promotions, pipeline, worker

__all__ = ["cli", "end_promotions", "pipeline", "worker"]
