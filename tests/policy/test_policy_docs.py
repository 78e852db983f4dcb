"""Every YAML example in docs/release-policy.md validates against its model."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from rollway.policy import GroupDirectory, ReleasePolicy

DOC = Path(__file__).resolve().parents[2] / "docs" / "release-policy.md"
BLOCKS = re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def test_doc_has_examples() -> None:
    assert len(BLOCKS) >= 8


@pytest.mark.parametrize("block", BLOCKS, ids=[b.splitlines()[0] for b in BLOCKS])
def test_doc_yaml_validates(block: str) -> None:
    marker = block.splitlines()[0]
    data = yaml.safe_load(block)
    if marker == "# validates as: ReleasePolicy":
        ReleasePolicy.model_validate(data)
    elif marker == "# validates as: GroupDirectory":
        GroupDirectory.from_yaml_text(block)
    elif marker == "# validates as: pipeline excerpt":
        for env in data["environments"].values():
            ReleasePolicy.model_validate(env["policy"])
    else:
        pytest.fail(f"yaml block without a '# validates as:' marker: {marker!r}")
