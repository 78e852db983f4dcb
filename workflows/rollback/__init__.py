"""RollbackWorkflow: return a service to a release that passed its canary (docs/rollback.md)."""

from workflows.rollback.workflow import RollbackWorkflow

__all__ = ["RollbackWorkflow"]
