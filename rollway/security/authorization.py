"""Who may do what, and whether an environment takes unsigned decisions: pure rules.

- approve / reject: the release policy's approval rules (`rollway.policy.check_approval`).
- rollback, abort, pause, resume (and overrides): the service's owners (the groups the
  pipeline names in `owners:`), a member of `release-manager`, or the commander of an
  active incident in the environment.
- declare / resolve an incident: a member of `on-call` (resolving: also the incident's
  own commander, or a release manager).
- freeze / unfreeze: a member of `release-manager`.

Group names are those of the worker's groups file (`ROLLWAY_GROUPS_FILE`). Every
function returns why a decision is refused, or None; nothing here does I/O or reads
a clock, so workflows call them directly.
"""

from __future__ import annotations

from collections.abc import Sequence

from rollway.policy import GroupDirectory
from rollway.spec import PipelineSpec

RELEASE_MANAGERS = "release-manager"
ON_CALL = "on-call"


def accepts_unsigned(spec: PipelineSpec, environment: str) -> bool:
    """`environments.<env>.policy.unsigned_decisions`; by default production refuses.

    Production is the canary's environment; every other environment accepts
    unsigned decisions unless its policy says `refused`.
    """
    env = spec.environments.get(environment)
    policy = env.policy if env is not None else None
    if policy is not None and policy.unsigned_decisions is not None:
        return policy.unsigned_decisions == "accepted"
    return environment != spec.canary.environment


def unsigned_refusal(action: str, by: str, environment: str) -> str:
    return (
        f"{action} by {by} is not signed and environment '{environment}' refuses unsigned "
        "decisions: the rollway CLI signs with your SSH key (ssh-agent or --key), or use "
        "`rollway sign` (policy key: environments.<env>.policy.unsigned_decisions)"
    )


def action_refusal(
    directory: GroupDirectory,
    by: str,
    action: str,
    *,
    owners: Sequence[str],
    commander_of: str | None,
) -> str | None:
    """Rollback, abort, pause, resume: owners, release managers or the active incident's IC.

    `commander_of`: the id of the active incident `by` commands (None if none).
    """
    if commander_of is not None:
        return None
    if directory.is_member(by, RELEASE_MANAGERS):
        return None
    if any(directory.is_member(by, group) for group in owners):
        return None
    groups = ", ".join(f"'{g}'" for g in owners) or "none named (pipeline key `owners:`)"
    return (
        f"{by} may not {action}: only the service's owners (groups: {groups}), a member of "
        f"'{RELEASE_MANAGERS}' or an active incident's commander may"
    )


def incident_refusal(
    directory: GroupDirectory, by: str, action: str, *, commander: str | None = None
) -> str | None:
    """Declare: on-call. Resolve: on-call, the incident's commander or a release manager."""
    if directory.is_member(by, ON_CALL):
        return None
    if action == "incident-resolve" and (
        (commander is not None and commander.lower() == by.lower())
        or directory.is_member(by, RELEASE_MANAGERS)
    ):
        return None
    who = (
        f"a member of '{ON_CALL}'"
        if action == "incident-declare"
        else f"a member of '{ON_CALL}' or '{RELEASE_MANAGERS}', or the incident's commander"
    )
    return f"{by} may not {action.replace('-', ' ')}: only {who} may"


def freeze_refusal(directory: GroupDirectory, by: str, action: str) -> str | None:
    """Freeze and unfreeze: release managers."""
    if directory.is_member(by, RELEASE_MANAGERS):
        return None
    return f"{by} may not {action}: only a member of '{RELEASE_MANAGERS}' may"
