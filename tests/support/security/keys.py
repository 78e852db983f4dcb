"""Real SSH keys made by `ssh-keygen`, for signed-decision tests."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.support.binaries import require_binary


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
