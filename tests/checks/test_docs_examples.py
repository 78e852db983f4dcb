"""The pipeline snippets in docs/checks.md and docs/migrations.md are valid specs."""

from __future__ import annotations

import pytest
import yaml

from rollway.spec_loader import SpecError, parse_pipeline
from tests.support.binaries import ROOT
from tests.support.promotions import pipeline


def first_yaml_block(doc: str) -> dict[str, object]:
    text = (ROOT / "docs" / doc).read_text()
    block = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    loaded = yaml.safe_load(block)
    assert isinstance(loaded, dict)
    return loaded


@pytest.mark.parametrize("doc", ["checks.md", "migrations.md"])
def test_the_documented_section_parses(doc: str) -> None:
    section = first_yaml_block(doc)
    spec = parse_pipeline(pipeline(**section))
    assert getattr(spec, next(iter(section))) is not None


def test_a_url_where_a_variable_name_belongs_is_refused_with_the_fix() -> None:
    with pytest.raises(SpecError, match=r"migrations\.databases\.production: must be the NAME"):
        parse_pipeline(
            pipeline(migrations={"databases": {"production": "postgresql://app:pw@db/app"}})
        )
