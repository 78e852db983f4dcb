"""The repository root, and the binaries tests need (a missing one fails loudly)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def require_binary(name: str, hint: str) -> str:
    """The path of `name` (the venv's first, then PATH); fails the test if missing."""
    venv = Path(sys.executable).parent / name
    path = str(venv) if venv.exists() else shutil.which(name)
    if path is None:
        pytest.fail(f"`{name}` is required by this test and missing: {hint}", pytrace=False)
    return path
