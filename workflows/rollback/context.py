"""What one rollback carries between its steps: input, queryable state, the lock."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from rollway.models import PlatformInput
    from rollway.platform.base import Target
    from rollway.policy import GroupDirectory
    from rollway.release_control import control_workflow_id
    from rollway.rollback import RollbackInput, RollbackState
    from rollway.spec import PipelineSpec
    from workflows.promotion.state import StateKeeper
    from workflows.rollback.lock import EnvironmentLock
    from workflows.signed_decisions import DecisionGuard


class Rollback:
    """One rollback's input, its `RollbackState` (kept by a `StateKeeper`) and its lock."""

    def __init__(self, inp: RollbackInput) -> None:
        self.inp = inp
        self._spec: PipelineSpec | None = None  # loaded by `load_pipeline` at the start
        self.guard = DecisionGuard({})  # the request's signature: target, expiry, replay
        self.directory: GroupDirectory | None = None  # the groups file, read once
        self.state = RollbackState(
            service=inp.service,
            version=inp.to_version or "previous",
            commit="",
            environment=inp.environment,
            requested_by=inp.by,
        )
        self.keeper = StateKeeper(self.state)
        control = inp.release_control or control_workflow_id(inp.environment)
        self.lock = EnvironmentLock(control, inp.environment, inp.service)

    @property
    def spec(self) -> PipelineSpec:
        """The pipeline the worker vouched for; no step runs before it is loaded."""
        if self._spec is None:
            raise RuntimeError("the pipeline is not loaded yet")
        return self._spec

    def use_spec(self, spec: PipelineSpec) -> None:
        self._spec = spec

    def targets(self) -> list[PlatformInput]:
        """Every target of the environment (one per cluster), for each service in scope."""
        env = self.spec.environments[self.inp.environment]
        return [
            PlatformInput(
                target=Target(service=service, environment=self.inp.environment, cluster=cluster),
                environment=env,
                run=self.spec.run,
            )
            for service in self.inp.services
            for cluster in env.clusters
        ]
