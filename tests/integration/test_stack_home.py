"""`$ROLLWAY_HOME` is private to its user: created 0700, narrowed, never a shared folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from rollway.home import home, private_dir


def test_home_is_created_0700(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROLLWAY_HOME", str(tmp_path / "new" / "home"))
    h = home()
    assert h.stat().st_mode & 0o777 == 0o700


def test_an_existing_home_with_wider_permissions_is_narrowed(tmp_path: Path) -> None:
    h = tmp_path / "home"
    h.mkdir(mode=0o755)
    h.chmod(0o755)
    private_dir(h)
    assert h.stat().st_mode & 0o777 == 0o700


def test_a_shared_folder_is_refused_not_chmodded(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # like /tmp
    with pytest.raises(PermissionError, match="single-user"):
        private_dir(shared)
    assert shared.stat().st_mode & 0o7777 == 0o1777
