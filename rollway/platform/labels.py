"""How a target and a version are named in traffic-router objects and metric labels.

The local platform names HAProxy backends and servers this way, and the analysis
queries select Prometheus series (`proxy`, `server` labels) by the same names, so
both import them from here rather than from each other.
"""

from __future__ import annotations

import re

from rollway.platform.base import Target


def backend_name(target: Target) -> str:
    """HAProxy backend (and Prometheus `proxy` label) of a target."""
    return f"{target.service}.{target.environment}"


def server_name(version: str) -> str:
    """HAProxy server name (Prometheus `server` label) of a version."""
    return re.sub(r"[^A-Za-z0-9_.:-]", "_", version)
