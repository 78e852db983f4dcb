"""Who belongs to which approval group: a YAML file the worker reads."""

from __future__ import annotations

import os
from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

from rollway.home import home
from rollway.policy import GroupDirectory


def groups_file() -> Path:
    """`$ROLLWAY_GROUPS_FILE`, else `$ROLLWAY_HOME/groups.yaml`."""
    env = os.environ.get("ROLLWAY_GROUPS_FILE")
    return Path(env) if env else home() / "groups.yaml"


@activity.defn(name="load_groups")
def load_groups(service: str) -> GroupDirectory:
    """The group directory (`groups: {release-manager: [alice], …}`); empty if no file."""
    path = groups_file()
    if not path.exists():
        return GroupDirectory(groups={})
    try:
        return GroupDirectory.from_yaml_text(path.read_text())
    except ValueError as e:
        raise ApplicationError(
            f"{path}: {e} (expected `groups: {{release-manager: [alice, bob]}}`)",
            type="GroupsFileInvalid",
            non_retryable=True,
        ) from e
