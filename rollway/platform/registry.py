"""Find the platform for an environment by its `platform.kind`.

Adding a platform touches only this table: workflows and activities call
`platform_for` and never name an implementation.
"""

from __future__ import annotations

from rollway.home import home
from rollway.platform.base import Platform, PlatformError
from rollway.spec import EnvironmentSpec, RunSpec


def platform_for(environment: EnvironmentSpec, run: RunSpec | None) -> Platform:
    """Build the platform an environment declares."""
    config = environment.platform
    if config.kind == "local":
        from rollway.platform.local import LocalPlatform

        if run is None:
            raise PlatformError("the local platform needs the pipeline's 'run'", retryable=False)
        return LocalPlatform(home(), run, config)
    if config.kind == "kubernetes":
        from rollway.platform.kubernetes import KubernetesPlatform
        from rollway.spec_worker import WorkerConfigError, with_worker_config, worker_config

        try:  # credentials and writable namespaces are the worker's (docs/catalog.md)
            config = with_worker_config(config, worker_config().kubernetes)
        except WorkerConfigError as e:
            raise PlatformError(str(e), retryable=False) from None
        return KubernetesPlatform(config)
    raise PlatformError(f"unknown platform kind '{config.kind}'", retryable=False)
