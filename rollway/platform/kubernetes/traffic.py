"""Traffic routers for the canary strategy: replica ratio, Gateway API, Istio.

A router owns the objects that split traffic between the stable and canary
pods. `set_weight` does exactly one write (or none if the weight is already
so), which is what makes `rollback`'s first write the traffic write.
"""

from __future__ import annotations

import copy
from typing import Any, Protocol

from rollway.platform.base import PlatformError
from rollway.platform.kubernetes.client import (
    HTTPROUTE,
    SERVICE,
    Obj,
    destination_rule_kind,
    virtual_service_kind,
)
from rollway.platform.kubernetes.config import CanaryOptions
from rollway.platform.kubernetes.objects import NAME_LABEL, TRACK_LABEL
from rollway.platform.kubernetes.strategy import Ctx


class Router(Protocol):
    def ensure(self, ctx: Ctx) -> None:
        """Create/verify the Services and routing objects (never changes the weight)."""
        ...

    def set_weight(self, ctx: Ctx, weight: int) -> None:
        """Route `weight` % to the canary, the rest to stable, in one write."""
        ...

    def weight(self, ctx: Ctx) -> int | None:
        """The canary weight the routing object carries (None: not decided by the router)."""
        ...


def _labels(ctx: Ctx, track: str | None) -> dict[str, str]:
    labels = {NAME_LABEL: ctx.service}
    if track:
        labels[TRACK_LABEL] = track
    return labels


class ReplicaRouter:
    """One Service in front of both Deployments; the split is the replica ratio.

    At weight 0 the main Service's selector also pins `rollway.dev/track: stable`,
    so a warm canary pod gets no user traffic; any weight > 0 drops that key.
    """

    def __init__(self, opts: CanaryOptions) -> None:
        self.opts = opts

    def ensure(self, ctx: Ctx) -> None:
        main = ctx.name(self.opts.stable_service)
        if ctx.kube.get(SERVICE, ctx.namespace, main) is None:
            ctx.ensure_service(main, _labels(ctx, "stable"))
        ctx.ensure_service(ctx.name(self.opts.canary_service), _labels(ctx, "canary"))

    def set_open(self, ctx: Ctx, open_: bool) -> None:
        ctx.ensure_service(
            ctx.name(self.opts.stable_service), _labels(ctx, None if open_ else "stable")
        )

    def set_weight(self, ctx: Ctx, weight: int) -> None:
        self.set_open(ctx, weight > 0)

    def is_open(self, ctx: Ctx) -> bool:
        svc = ctx.kube.get(SERVICE, ctx.namespace, ctx.name(self.opts.stable_service))
        if svc is None:
            return False
        selector = (svc.get("spec") or {}).get("selector") or {}
        return TRACK_LABEL not in selector

    def weight(self, ctx: Ctx) -> int | None:
        return None


class GatewayRouter:
    """A Gateway API HTTPRoute: every rule with the stable Service as a backend gets
    a canary backendRef next to it; weights are `100 - w` and `w`."""

    def __init__(self, opts: CanaryOptions) -> None:
        self.opts = opts

    def _names(self, ctx: Ctx) -> tuple[str, str, str]:
        return (
            ctx.name(self.opts.http_route),
            ctx.name(self.opts.stable_service),
            ctx.name(self.opts.canary_service),
        )

    def ensure(self, ctx: Ctx) -> None:
        route, stable, canary = self._names(ctx)
        ctx.ensure_service(stable, _labels(ctx, "stable"))
        ctx.ensure_service(canary, _labels(ctx, "canary"))
        obj = ctx.kube.require(
            HTTPROUTE,
            ctx.namespace,
            route,
            hint="create it (with a backendRef to the stable Service) as part of the app's "
            "manifests; Rollway only manages its weights",
        )
        self._rules(obj, stable, route)

    @staticmethod
    def _is_ref(ref: dict[str, Any], name: str) -> bool:
        return (
            ref.get("name") == name
            and ref.get("kind", "Service") == "Service"
            and ref.get("group", "") in ("", "core")
        )

    def _rules(self, obj: Obj, stable: str, route: str) -> list[dict[str, Any]]:
        rules = [
            r
            for r in (obj.get("spec") or {}).get("rules") or []
            if any(self._is_ref(ref, stable) for ref in r.get("backendRefs") or [])
        ]
        if not rules:
            raise PlatformError(
                f"HTTPRoute '{route}' has no rule with a backendRef to Service '{stable}'; add "
                "one (Rollway adds the canary backendRef and manages both weights)",
                retryable=False,
            )
        return rules

    def set_weight(self, ctx: Ctx, weight: int) -> None:
        route, stable, canary = self._names(ctx)

        def build(cur: Obj | None) -> Obj:
            if cur is None:
                raise PlatformError(
                    f"HTTPRoute '{route}' not found in namespace '{ctx.namespace}' on cluster "
                    f"'{ctx.kube.cluster}'; create it with a backendRef to '{stable}'",
                    retryable=False,
                )
            for rule in self._rules(cur, stable, route):
                refs = rule["backendRefs"]
                stable_ref = next(r for r in refs if self._is_ref(r, stable))
                canary_ref = next((r for r in refs if self._is_ref(r, canary)), None)
                if canary_ref is None:
                    canary_ref = copy.deepcopy(stable_ref)
                    canary_ref["name"] = canary
                    refs.append(canary_ref)
                stable_ref["weight"] = 100 - weight
                canary_ref["weight"] = weight
            return cur

        ctx.kube.apply(HTTPROUTE, ctx.namespace, route, build)

    def weight(self, ctx: Ctx) -> int | None:
        route, stable, canary = self._names(ctx)
        obj = ctx.kube.get(HTTPROUTE, ctx.namespace, route)
        if obj is None:
            return 0
        for rule in (obj.get("spec") or {}).get("rules") or []:
            refs = rule.get("backendRefs") or []
            s = next((r for r in refs if self._is_ref(r, stable)), None)
            c = next((r for r in refs if self._is_ref(r, canary)), None)
            if s is not None:
                sw = int(s.get("weight", 1))
                cw = int(c.get("weight", 1)) if c is not None else 0
                return round(100 * cw / (sw + cw)) if sw + cw else 0
        return 0


class IstioRouter:
    """An Istio VirtualService with stable/canary subsets of one host, and the
    DestinationRule defining the subsets by the `rollway.dev/track` pod label."""

    def __init__(self, opts: CanaryOptions) -> None:
        self.opts = opts
        self.vs_kind = virtual_service_kind(opts.istio_api_version)
        self.dr_kind = destination_rule_kind(opts.istio_api_version)

    def ensure(self, ctx: Ctx) -> None:
        # The host Service selects both tracks; the subsets split them.
        ctx.ensure_service(ctx.name(self.opts.stable_service), _labels(ctx, None))
        ctx.ensure_service(ctx.name(self.opts.canary_service), _labels(ctx, "canary"))
        dr = ctx.name(self.opts.destination_rule)
        wanted = {
            self.opts.stable_subset: _labels(ctx, "stable"),
            self.opts.canary_subset: _labels(ctx, "canary"),
        }

        def build_dr(cur: Obj | None) -> Obj:
            if cur is None:
                raise PlatformError(
                    f"DestinationRule '{dr}' not found in namespace '{ctx.namespace}' on "
                    f"cluster '{ctx.kube.cluster}'; create it for the service's host (Rollway "
                    f"fills in the '{self.opts.stable_subset}'/'{self.opts.canary_subset}' "
                    "subsets)",
                    retryable=False,
                )
            subsets = cur.setdefault("spec", {}).setdefault("subsets", [])
            for name, labels in wanted.items():
                subset = next((s for s in subsets if s.get("name") == name), None)
                if subset is None:
                    subsets.append({"name": name, "labels": dict(labels)})
                else:
                    subset["labels"] = dict(labels)
            return cur

        ctx.kube.apply(self.dr_kind, ctx.namespace, dr, build_dr)
        vs = ctx.name(self.opts.virtual_service)
        obj = ctx.kube.require(
            self.vs_kind,
            ctx.namespace,
            vs,
            hint=f"create it with a route to subset '{self.opts.stable_subset}'; Rollway only "
            "manages its weights",
        )
        self._routes(obj, vs)

    def _routes(self, obj: Obj, vs: str) -> list[dict[str, Any]]:
        routes = []
        for route in (obj.get("spec") or {}).get("http") or []:
            if self.opts.virtual_service_route and route.get("name") != (
                self.opts.virtual_service_route
            ):
                continue
            dests = route.get("route") or []
            if any(
                (d.get("destination") or {}).get("subset") == self.opts.stable_subset for d in dests
            ):
                routes.append(route)
        if not routes:
            which = (
                f"http route '{self.opts.virtual_service_route}'"
                if self.opts.virtual_service_route
                else "any http route"
            )
            raise PlatformError(
                f"VirtualService '{vs}': {which} has no destination with subset "
                f"'{self.opts.stable_subset}'; add one (Rollway adds the "
                f"'{self.opts.canary_subset}' destination and manages the weights)",
                retryable=False,
            )
        return routes

    def set_weight(self, ctx: Ctx, weight: int) -> None:
        vs = ctx.name(self.opts.virtual_service)

        def build(cur: Obj | None) -> Obj:
            if cur is None:
                raise PlatformError(
                    f"VirtualService '{vs}' not found in namespace '{ctx.namespace}' on cluster "
                    f"'{ctx.kube.cluster}'",
                    retryable=False,
                )
            for route in self._routes(cur, vs):
                dests = route["route"]
                stable = next(
                    d
                    for d in dests
                    if (d.get("destination") or {}).get("subset") == self.opts.stable_subset
                )
                canary = next(
                    (
                        d
                        for d in dests
                        if (d.get("destination") or {}).get("subset") == self.opts.canary_subset
                    ),
                    None,
                )
                if canary is None:
                    canary = copy.deepcopy(stable)
                    canary["destination"]["subset"] = self.opts.canary_subset
                    dests.append(canary)
                stable["weight"] = 100 - weight
                canary["weight"] = weight
            return cur

        ctx.kube.apply(self.vs_kind, ctx.namespace, vs, build)

    def weight(self, ctx: Ctx) -> int | None:
        vs = ctx.name(self.opts.virtual_service)
        obj = ctx.kube.get(self.vs_kind, ctx.namespace, vs)
        if obj is None:
            return 0
        for route in (obj.get("spec") or {}).get("http") or []:
            if self.opts.virtual_service_route and route.get("name") != (
                self.opts.virtual_service_route
            ):
                continue
            sw = cw = None
            for d in route.get("route") or []:
                subset = (d.get("destination") or {}).get("subset")
                if subset == self.opts.stable_subset:
                    sw = int(d.get("weight", 100))
                elif subset == self.opts.canary_subset:
                    cw = int(d.get("weight", 0))
            if sw is not None:
                cw = cw or 0
                return round(100 * cw / (sw + cw)) if sw + cw else 0
        return 0
