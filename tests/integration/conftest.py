"""The real local stack (tests/support/local_stack.py): `rollway up` in a temporary home."""

from tests.support.local_stack import local_stack, stack_home

__all__ = ["local_stack", "stack_home"]
