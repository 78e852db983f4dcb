"""The migration folder: `.sql` files applied in file-name order, each identified by checksum."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from rollway.spec import MIGRATION_FILE_RE


class MigrationFolderError(Exception):
    """The folder is missing or holds a file the runner cannot take."""


@dataclass(frozen=True)
class MigrationFile:
    name: str
    sql: str
    checksum: str  # sha256 of the file's bytes: an applied migration is never edited


def discover(folder: Path) -> list[MigrationFile]:
    """Every `*.sql` file of `folder` (not recursive), sorted by name."""
    if not folder.is_dir():
        raise MigrationFolderError(
            f"migrations.folder {folder} does not exist on the worker: create it or set "
            "'folder' relative to the pipeline file's folder"
        )
    found = []
    for path in sorted(folder.glob("*.sql"), key=lambda p: p.name):
        if not MIGRATION_FILE_RE.match(path.name):
            raise MigrationFolderError(
                f"{path.name}: rename it to letters, digits, '_', '.', '-' ending in .sql"
            )
        data = path.read_bytes()
        found.append(
            MigrationFile(
                name=path.name,
                sql=data.decode("utf-8"),
                checksum=hashlib.sha256(data).hexdigest(),
            )
        )
    return found
