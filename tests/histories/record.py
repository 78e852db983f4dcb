"""Save workflow histories for the replay tests.

Set ROLLWAY_RECORD_HISTORIES=1 when running the suite to (re)write
`tests/histories/*.json` from the runs that call `save_history`; the replay
test then checks that today's workflow code replays every one of them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from temporalio.client import WorkflowHistory

HERE = Path(__file__).resolve().parent


def save_history(history: WorkflowHistory, name: str) -> None:
    """Also keeps the workflow id (`workflowId`): signed decisions name their workflow, so a
    replay under another id would take another path."""
    if os.environ.get("ROLLWAY_RECORD_HISTORIES") == "1":
        data = {"workflowId": history.workflow_id, **json.loads(history.to_json())}
        (HERE / f"{name}.json").write_text(json.dumps(data))
