"""Save workflow histories for the replay tests.

Set ROLLWAY_RECORD_HISTORIES=1 when running the suite to (re)write
`tests/histories/*.json` from the runs that call `save_history`; the replay
test then checks that today's workflow code replays every one of them.
"""

from __future__ import annotations

import os
from pathlib import Path

from temporalio.client import WorkflowHistory

HERE = Path(__file__).resolve().parent


def save_history(history: WorkflowHistory, name: str) -> None:
    if os.environ.get("ROLLWAY_RECORD_HISTORIES") == "1":
        (HERE / f"{name}.json").write_text(history.to_json())
