"""Test support: fixtures, fakes, emulators and helpers shared by the test modules.

Test modules import from here (and `tests.histories.record`), never from each
other or from a conftest; tests/test_layout.py enforces it.
"""
