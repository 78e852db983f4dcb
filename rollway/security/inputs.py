"""Hostile input refused: names, versions and commits checked; paths kept under their root.

Each validator returns the value unchanged or raises `InputError` (a `ValueError`,
so pydantic validators can call them directly) naming the field and the allowed
form. `contained_path` resolves a path (symlinks included) and refuses anything
that ends up outside its root.
"""

from __future__ import annotations

import re
from pathlib import Path


class InputError(ValueError):
    """A value that is not allowed; the message names the field and the fix."""


NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,50}[a-z0-9])?$")
VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")
COMMIT_RE = re.compile(r"^[0-9a-f]{7,64}$")
ENV_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "…"


def check_name(value: str, field: str = "name") -> str:
    """A service or environment name: lowercase letters, digits and '-' (≤ 52)."""
    if not isinstance(value, str) or not NAME_RE.match(value):
        raise InputError(
            f"{field} {_shown(value)} is not allowed: use lowercase letters, digits and '-', "
            "starting and ending with a letter or digit, at most 52 (e.g. 'orders-api')"
        )
    return value


def check_version(value: str, field: str = "version") -> str:
    """A version label: letters, digits and . _ + -, starting with a letter or digit (≤ 128)."""
    if not isinstance(value, str) or not VERSION_RE.match(value):
        raise InputError(
            f"{field} {_shown(value)} is not allowed: use letters, digits and . _ + -, "
            "starting with a letter or digit, at most 128 (e.g. 'v2', '1.4.0-rc.1')"
        )
    return value


def check_commit(value: str, field: str = "commit") -> str:
    """A git commit id: 7 to 64 lowercase hex digits (sha1 or sha256, full or abbreviated)."""
    if not isinstance(value, str) or not COMMIT_RE.match(value):
        raise InputError(
            f"{field} {_shown(value)} is not a commit id: give 7 to 64 lowercase hex digits "
            "(e.g. `$(git rev-parse HEAD)`)"
        )
    return value


def check_env_key(value: str, field: str = "env") -> str:
    """An environment variable name: letters, digits and '_', not starting with a digit."""
    if not isinstance(value, str) or not ENV_KEY_RE.match(value):
        raise InputError(
            f"{field} key {_shown(value)} is not an environment variable name: use letters, "
            "digits and '_', not starting with a digit (e.g. 'LOG_LEVEL')"
        )
    return value


def contained_path(root: str | Path, *parts: str | Path, field: str = "path") -> Path:
    """`root / parts…`, resolved (symlinks followed), refused when it leaves `root`.

    Absolute parts, `..` segments and symlinks pointing elsewhere all count as leaving.
    The result may not exist yet; `root` itself is resolved the same way.
    """
    base = Path(root).resolve()
    for part in parts:
        text = str(part)
        if "\x00" in text:
            raise InputError(f"{field} {_shown(text)} contains a NUL byte")
        if Path(text).is_absolute():
            raise InputError(f"{field} {_shown(text)} must be relative to {base}, not absolute")
    target = base.joinpath(*parts).resolve()
    if not target.is_relative_to(base):
        joined = "/".join(str(p) for p in parts)
        raise InputError(
            f"{field} {_shown(joined)} leaves {base} (resolves to {target}): "
            "use a path inside it, without '..' or symlinks out of it"
        )
    return target
