"""Real SSH keys made by `ssh-keygen` in temporary folders."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import require_binary


@dataclass(frozen=True)
class Key:
    private: Path
    public: Path

    def allowed_line(self, principals: str, options: str = "") -> str:
        key_type, b64 = self.public.read_text().split()[:2]
        return " ".join(p for p in (principals, options, key_type, b64) if p)


def make_key(folder: Path, name: str, key_type: str) -> Key:
    ssh_keygen = require_binary("ssh-keygen", "apt-get install -y openssh-client (./dev does it)")
    path = folder / name
    extra = ["-b", "2048"] if key_type == "rsa" else []
    subprocess.run(
        [ssh_keygen, "-q", "-t", key_type, *extra, "-N", "", "-C", name, "-f", str(path)],
        check=True,
    )
    return Key(private=path, public=path.with_name(name + ".pub"))


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Key]:
    folder = tmp_path_factory.mktemp("ssh-keys")
    return {
        "alice": make_key(folder, "alice", "ed25519"),
        "bob": make_key(folder, "bob", "rsa"),
        "mallory": make_key(folder, "mallory", "ed25519"),
    }


@pytest.fixture(scope="session")
def allowed_signers(keys: dict[str, Key]) -> str:
    return "\n".join(
        [
            "# rollway decisions",
            keys["alice"].allowed_line("alice,alice@example.com"),
            keys["bob"].allowed_line("bob", 'namespaces="git,rollway-decision"'),
        ]
    )
