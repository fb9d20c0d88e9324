"""Task granularity: which flows of a plan share one orchestrator task.

By default every flow is its own task. Grouping trades per-flow visibility in the
scheduler for fewer task start-ups (each costs an interpreter and ``import dataflows``):
``"tag"`` puts the flows sharing their first tag in one task, ``"factory"`` puts the whole
plan in one, and a function ``StepPlan -> str | None`` names each flow's group itself
(``None``: a task of its own). Inside a group the flows run as the local runner runs them
(:func:`~dataflows_factory.adapters.group_run.run_group`): in dependency order,
independent ones in parallel, each skipped when unchanged.

Pure: reads nothing, imports neither the factory nor ``dataflows``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias

from ..errors import FactoryDefinitionError
from .plan import Plan, StepPlan

__all__ = ["Group", "Grouping", "group_plan"]

Grouping: TypeAlias = "str | Callable[[StepPlan], str | None]"
"""``"flow"`` (one task per flow), ``"tag"``, ``"factory"``, or a function naming a group."""

_MODES = ("flow", "tag", "factory")


@dataclass(frozen=True)
class Group:
    """Flows that run as one task; ``deps`` are the groups it waits for."""

    name: str
    flows: tuple[str, ...]
    deps: tuple[str, ...] = ()

    @property
    def single(self) -> bool:
        """A group of one flow named after it: a flow's own task, as without grouping."""
        return self.flows == (self.name,)


def group_plan(plan: Plan, by: Grouping = "flow", *,
               alone: Callable[[StepPlan], bool] | None = None) -> tuple[Group, ...]:
    """The plan's flows in groups, in an order where each group follows its ``deps``.

    >>> [(g.name, g.flows) for g in group_plan(world_plan, "tag")]   # doctest: +SKIP
    [('sources', ('countries', 'cities')), ('key_metrics', ('key_metrics',))]

    ``alone`` keeps the flows it accepts out of any group, each a task of its own (an engine
    whose group task cannot hold some flows: Dagster's, for partitioned ones).

    A grouping that makes two groups wait for each other (a flow of ``a`` reads one of
    ``b`` which reads another of ``a``) is a :class:`FactoryDefinitionError` naming the
    flows, as is a group name that is also the name of a flow outside it.
    """
    namer = _namer(plan, by)

    def name_of(step: StepPlan) -> str:
        return step.name if alone is not None and alone(step) else namer(step)

    members: dict[str, list[str]] = {}
    of_flow: dict[str, str] = {}
    for step in plan.steps:
        group = name_of(step)
        members.setdefault(group, []).append(step.name)
        of_flow[step.name] = group
    for group in members:
        if group in of_flow and of_flow[group] != group:
            raise FactoryDefinitionError(
                f"factory {plan.factory!r}: group {group!r} has the name of flow {group!r}, which is "
                f"in group {of_flow[group]!r}; task ids would clash, so name the group otherwise")
    deps: dict[str, dict[str, tuple[str, str]]] = {g: {} for g in members}  # group -> dep -> why
    for step in plan.steps:
        for up in step.upstream:
            if up in of_flow and of_flow[up] != of_flow[step.name]:
                deps[of_flow[step.name]].setdefault(of_flow[up], (up, step.name))
    order = _ordered(plan.factory, deps)
    return tuple(Group(name, tuple(members[name]), tuple(d for d in order if d in deps[name]))
                 for name in order)


def _namer(plan: Plan, by: Grouping) -> Callable[[StepPlan], str]:
    if callable(by):
        def named(step: StepPlan) -> str:
            group = by(step)
            if group is not None and (not isinstance(group, str) or not group.strip()):
                raise FactoryDefinitionError(
                    f"factory {plan.factory!r}: the grouping function gave flow {step.name!r} the "
                    f"group {group!r}; return a non-empty name, or None for a task of its own")
            return step.name if group is None else group
        return named
    if by == "flow":
        return lambda step: step.name
    if by == "tag":
        return lambda step: step.tags[0] if step.tags else step.name
    if by == "factory":
        return lambda step: plan.factory
    raise FactoryDefinitionError(
        f"group_by={by!r}: choose one of {', '.join(map(repr, _MODES))} or a function "
        "taking a flow's StepPlan and returning its group's name (None: a task of its own)")


def _ordered(factory: str, deps: dict[str, dict[str, tuple[str, str]]]) -> list[str]:
    """Groups in an order that respects ``deps`` (keeping plan order where free), or the cycle."""
    order: list[str] = []
    state: dict[str, int] = {}  # 1: being visited, 2: done

    def visit(group: str, path: list[str]) -> None:
        if state.get(group) == 2:
            return
        if state.get(group) == 1:
            cycle = [*path[path.index(group):], group]
            why = "; ".join(f"{deps[a][b][1]!r} (group {a!r}) waits for {deps[a][b][0]!r} (group {b!r})"
                            for a, b in itertools.pairwise(cycle))
            raise FactoryDefinitionError(
                f"factory {factory!r}: groups {' -> '.join(cycle)} wait for each other: {why}; "
                "put these flows in one group, or in groups that do not")
        state[group] = 1
        for dep in deps[group]:
            visit(dep, [*path, group])
        state[group] = 2
        order.append(group)

    for group in deps:
        visit(group, [])
    return order
