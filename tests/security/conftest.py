"""Real SSH keys made by `ssh-keygen` in temporary folders."""

from __future__ import annotations

import pytest

from tests.support.security.keys import Key, make_key


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
