"""Turn adapter errors into Temporal errors with the right retry behaviour."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from temporalio.exceptions import ApplicationError

from rollway.platform.base import PlatformError


@contextmanager
def platform_errors() -> Iterator[None]:
    """`PlatformError(retryable=False)` becomes a non-retryable `ApplicationError`."""
    try:
        yield
    except PlatformError as e:
        raise ApplicationError(str(e), type="PlatformError", non_retryable=not e.retryable) from e
