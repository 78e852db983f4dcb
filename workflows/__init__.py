"""Deterministic orchestration only: no I/O, time from `workflow.now()`."""
