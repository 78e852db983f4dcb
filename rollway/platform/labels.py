"""How a target and a version are named in traffic-router objects and metric labels.

The local platform names HAProxy backends and servers this way, and the analysis
queries select Prometheus series (`proxy`, `server` labels) by the same names, so
both import them from here rather than from each other.
"""

from __future__ import annotations

import re

from rollway.platform.base import PlatformError, Target
from rollway.security.inputs import InputError, check_name


def backend_name(target: Target) -> str:
    """HAProxy backend (and Prometheus `proxy` label) of a target.

    Names go into haproxy.cfg and runtime-API commands: anything but a plain name is refused.
    """
    try:
        check_name(target.service, "service")
        check_name(target.environment, "environment")
    except InputError as e:
        raise PlatformError(str(e), retryable=False) from None
    return f"{target.service}.{target.environment}"


def server_name(version: str) -> str:
    """HAProxy server name (Prometheus `server` label) of a version."""
    return re.sub(r"[^A-Za-z0-9_.:-]", "_", version)


def build_label(version: str, instance: str | None) -> str:
    """The `version` label of one build's own metrics: the label, unless a rebuild of that
    label runs beside it under a name of its own (the local platform's `instance`)."""
    if instance and instance != server_name(version):
        return instance
    return version
