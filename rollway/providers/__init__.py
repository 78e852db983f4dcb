"""Cloud providers: plain, Temporal-free adapters that activities call.

Each provider lives in its own package (`rollway.providers.aws`). Adapters are
synchronous, take injected SDK clients, are idempotent, and return pydantic models.
"""
