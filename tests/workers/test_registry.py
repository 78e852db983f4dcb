"""The real worker runs every activity and workflow the workflows call; the fakes mirror it.

The names come from the source, not from a list kept by hand: every module under
workflows/ is parsed, and each call to `workflow.execute_activity` (or
`start_activity`, the local variants) or to a wrapper of it contributes its
string-literal name argument. A wrapper is any function that passes one of its
own parameters on as the activity name (today `activity`, `call` and
`must_succeed` in workflows/promotion/calls.py, name second after the promotion); it is
found by the same scan, so moving or renaming the plumbing needs no change here.
A call whose name is neither a literal nor a wrapper's parameter fails the test:
it could not be checked.

Workflow names are the string-literal first arguments of `start_workflow`,
`execute_workflow`, `signal_with_start_workflow` and the child-workflow calls in
workflows/, activities/ and rollway/ (release control is started by an activity
and by the CLI), plus the workflows the CLI starts by constant.
"""

from __future__ import annotations

import ast
import inspect
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import temporalio.activity
import temporalio.workflow

from rollway.cli.promote import WORKFLOW
from tests.support.binaries import ROOT
from tests.support.fake_world import FakeWorld
from workers.registry import ACTIVITIES, WORKFLOWS

ACTIVITY_CALLS = {
    "execute_activity",
    "start_activity",
    "execute_local_activity",
    "start_local_activity",
}
WORKFLOW_CALLS = {
    "start_workflow",
    "execute_workflow",
    "signal_with_start_workflow",
    "start_child_workflow",
    "execute_child_workflow",
}


@dataclass(frozen=True)
class Site:
    name: str | None  # None: the name is not a string literal
    where: str


def callee(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    if isinstance(call.func, ast.Name):
        return call.func.id
    return None


def functions(tree: ast.AST) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def positional(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    """Positional parameter names as a caller passes them (no `self`/`cls`)."""
    names = [a.arg for a in [*fn.args.posonlyargs, *fn.args.args]]
    return names[1:] if names and names[0] in ("self", "cls") else names


def arg_at(call: ast.Call, index: int) -> ast.expr | None:
    return call.args[index] if len(call.args) > index else None


def parse(folder: str) -> dict[str, ast.Module]:
    return {
        str(p.relative_to(ROOT)): ast.parse(p.read_text(), str(p))
        for p in sorted((ROOT / folder).rglob("*.py"))
    }


def activity_wrappers(trees: dict[str, ast.Module]) -> dict[str, int]:
    """Functions that forward one of their parameters as an activity name, with the
    position of that parameter (to a fixpoint): `activity(p, name, …)` -> 1."""
    wrappers: dict[str, int] = dict.fromkeys(ACTIVITY_CALLS, 0)
    while True:
        found = dict(wrappers)
        for tree in trees.values():
            for fn in functions(tree):
                own = positional(fn)
                for call in (n for n in ast.walk(fn) if isinstance(n, ast.Call)):
                    index = found.get(callee(call) or "")
                    arg = arg_at(call, index) if index is not None else None
                    if isinstance(arg, ast.Name) and arg.id in own:
                        found[fn.name] = own.index(arg.id)
        if found == wrappers:
            return wrappers
        wrappers = found


def activity_sites(trees: dict[str, ast.Module]) -> list[Site]:
    wrappers = activity_wrappers(trees)
    sites = []
    for path, tree in trees.items():
        forwarding: set[int] = set()  # calls inside a wrapper that pass its parameter on
        for fn in functions(tree):
            if fn.name in wrappers and fn.name not in ACTIVITY_CALLS:
                own = positional(fn)
                for call in (n for n in ast.walk(fn) if isinstance(n, ast.Call)):
                    index = wrappers.get(callee(call) or "")
                    arg = arg_at(call, index) if index is not None else None
                    if isinstance(arg, ast.Name) and arg.id in own:
                        forwarding.add(id(call))
        for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
            index = wrappers.get(callee(call) or "")
            if index is None or id(call) in forwarding:
                continue
            arg = arg_at(call, index)
            name = (
                arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else None
            )
            sites.append(Site(name, f"{path}:{call.lineno} {callee(call)}(...)"))
    return sites


def workflow_sites(trees: dict[str, ast.Module]) -> list[Site]:
    sites = []
    for path, tree in trees.items():
        for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
            arg = arg_at(call, 0)
            if callee(call) in WORKFLOW_CALLS and isinstance(arg, ast.Constant):
                sites.append(Site(str(arg.value), f"{path}:{call.lineno}"))
    return sites


def activity_name(fn: Callable[..., Any]) -> str:
    defn = temporalio.activity._Definition.from_callable(fn)
    assert defn is not None and defn.name, f"{fn} is not an activity"
    return defn.name


def workflow_name(cls: type) -> str:
    defn = temporalio.workflow._Definition.from_class(cls)
    assert defn is not None and defn.name, f"{cls} is not a workflow"
    return defn.name


def called_activities() -> dict[str, list[str]]:
    sites = activity_sites(parse("workflows"))
    unresolved = [s.where for s in sites if s.name is None]
    assert not unresolved, (
        "activity calls whose name is not a string literal (cannot be checked; name the "
        f"activity with a literal or pass it through a wrapper's parameter): {unresolved}"
    )
    names: dict[str, list[str]] = {}
    for s in sites:
        assert s.name is not None
        names.setdefault(s.name, []).append(s.where)
    return names


def test_the_scan_finds_the_activities_through_the_wrappers() -> None:
    """Guards the scan itself: names known to be called only through a wrapper are found."""
    wrappers = activity_wrappers(parse("workflows"))
    assert {"activity": 1, "call": 1, "must_succeed": 1}.items() <= wrappers.items()
    assert "build" not in wrappers  # a stage that calls `activity(p, "build", …)` is no wrapper
    called = called_activities()
    assert {
        "build",
        "deploy",
        "promote",
        "rollback",
        "undo",
        "analyze",
        "argocd_sync",
        "read_release_control",
    } <= set(called)


def test_the_worker_registers_every_activity_the_workflows_call() -> None:
    called = called_activities()
    registered = [activity_name(fn) for fn in ACTIVITIES]
    assert len(registered) == len(set(registered)), f"registered twice: {sorted(registered)}"
    missing = {n: called[n] for n in sorted(set(called) - set(registered))}
    assert not missing, f"called by a workflow but not registered in workers/registry.py: {missing}"
    unused = sorted(set(registered) - set(called))
    assert not unused, f"registered in workers/registry.py but called by no workflow: {unused}"


def test_the_worker_registers_every_workflow_that_is_started() -> None:
    registered = {workflow_name(cls) for cls in WORKFLOWS}
    started = {
        s.name: s.where
        for t in ("workflows", "activities", "rollway")
        for s in workflow_sites(parse(t))
    }
    started[WORKFLOW] = "rollway/cli/promote.py WORKFLOW"
    missing = {n: w for n, w in started.items() if n not in registered}
    assert not missing, f"started but not registered in workers/registry.py: {missing}"


def test_the_fake_activities_cover_exactly_the_called_names() -> None:
    fakes = [activity_name(fn) for fn in FakeWorld().activities()]
    assert len(fakes) == len(set(fakes)), f"faked twice: {sorted(fakes)}"
    called = set(called_activities())
    assert set(fakes) == called, (
        f"fakes missing: {sorted(called - set(fakes))}; "
        f"fakes nobody calls: {sorted(set(fakes) - called)}"
    )


def signature(fn: Callable[..., Any]) -> tuple[list[tuple[str, Any]], Any]:
    hints = typing.get_type_hints(fn)
    names = list(inspect.signature(fn).parameters)
    return [(n, hints.get(n)) for n in names], hints.get("return")


def test_each_fake_has_the_real_activitys_signature() -> None:
    real = {activity_name(fn): fn for fn in ACTIVITIES}
    for fake in FakeWorld().activities():
        name = activity_name(fake)
        assert name in real, f"fake {name!r} has no real activity"
        assert signature(fake) == signature(real[name]), (
            f"{name}: fake {signature(fake)} != real {signature(real[name])}"
        )
