"""Shared fixtures: the seed 000 / 004 policies and a group directory."""

from __future__ import annotations

import pytest
import yaml

from rollway.policy import GroupDirectory, ReleasePolicy

SEED_000 = """
windows:
  - days: mon-thu
    start: "09:00"
    end: "16:00"
    timezone: America/New_York
freezes:
  - kind: last-week-of-quarter
    timezone: America/New_York
  - kind: before-launch
    launch: Rollway 2.0
    launch_date: 2026-06-15
    lead: 2w
    timezone: America/New_York
approvals:
  required: 2
  groups: [release-managers]
  timeout: 24h
  on_timeout: escalate
  escalate_to: [eng-managers]
  remind_every: 4h
emergency:
  severities: [SEV-1]
  approver: incident-commander
"""

SEED_004 = """
windows:
  - days: mon-fri
    start: "00:00"
    end: "24:00"
    timezone: America/New_York
extra_approvals:
  - days: fri
    timezone: America/New_York
    group: vp-engineering
    count: 1
    reason: Friday deploy
freezes:
  - kind: incident
    severities: [SEV-1, SEV-2]
approvals:
  required: 1
  groups: [release-managers]
hotfix:
  group: team-lead
  count: 1
"""

DIRECTORY = """
groups:
  release-managers: [alice, bob, dave, erin]
  vp-engineering: [carol, dave]
  team-lead: [tina, bob]
  eng-managers: [mia]
"""


@pytest.fixture
def seed000() -> ReleasePolicy:
    return ReleasePolicy.model_validate(yaml.safe_load(SEED_000))


@pytest.fixture
def seed004() -> ReleasePolicy:
    return ReleasePolicy.model_validate(yaml.safe_load(SEED_004))


@pytest.fixture
def directory() -> GroupDirectory:
    return GroupDirectory.from_yaml_text(DIRECTORY)
