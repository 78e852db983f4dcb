"""Bounded field types for what people and callers send (decisions, incidents, freezes).

Bounds are refusals, not truncations: an oversized decision is rejected with the
field's name, so no caller can bloat a workflow's state or history.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

Person = Annotated[str, StringConstraints(min_length=1, max_length=128, strip_whitespace=True)]
"""Who decided: a user name."""

Name = Annotated[str, StringConstraints(min_length=1, max_length=128)]
"""An identifier: incident or freeze id."""

Text = Annotated[str, StringConstraints(max_length=2000)]
"""A comment, reason or summary."""
