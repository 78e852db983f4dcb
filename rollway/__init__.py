"""Rollway: progressive delivery on Temporal.

Constants shared by the CLI, the worker and the workflows live here so that a
newcomer finds the task queue and the public names in one place.
"""

TASK_QUEUE = "rollway"
"""The task queue every Rollway worker polls."""

NAMESPACE = "default"

SEARCH_ATTRIBUTES: dict[str, str] = {
    "RollwayService": "Keyword",
    "RollwayEnvironment": "Keyword",
    "RollwayCommit": "Keyword",
    "RollwayStage": "Keyword",
    "RollwayOutcome": "Keyword",
}
"""Custom search attributes the dev server is started with (name -> type)."""

__version__ = "0.1.0"
