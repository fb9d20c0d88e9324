"""Task granularity on Prefect: a group of flows as one task run that runs the local runner.

The groups come from :func:`~dataflows_factory.adapters.groups.group_plan` (``group_by``).
A group of one flow stays that flow's own task run(s) (one per partition, then the merge);
a bigger group becomes one task run named after the group, which runs its flows through
:func:`~dataflows_factory.adapters.group_run.run_group`: in dependency order, independent
ones in parallel in the worker pool, each skipped when unchanged, each retried as its flow
says. Each flow's dataset still surfaces natively: the task publishes the same artifacts a
flow's own task would.
"""

from __future__ import annotations

from typing import Any

from ..adapters.groups import Group
from ..adapters.plan import Plan, StepPlan, Unit
from ..adapters.results import SKIPPED, SUCCEEDED
from ..factory import Factory
from ..store import Store
from ._compat import Task, get_run_logger, task
from ._lineage import task_parent
from .tasks import PrefectTranslator, _forward_logs, publish_artifacts

__all__ = ["group_step", "make_group_task", "run_group_task", "task_units"]


def task_units(plan: Plan, groups: tuple[Group, ...]) -> tuple[tuple[Unit, ...], dict[str, Group]]:
    """The units to submit, in a valid order, and the groups that are one task run each (by id).

    A flow of a group of one is its plan units, as without grouping; a bigger group is one
    unit named after the group, which the units reading its flows wait for.
    """
    grouped = {group.name: group for group in groups if len(group.flows) > 1}
    # The unit whose end means "this flow's dataset is published": the flow's own (its
    # merge, for a partitioned flow), or its group's.
    done_by = {flow: name for name, group in grouped.items() for flow in group.flows}
    # A group's deps are groups: a bigger one is its unit, one of one flow (maybe named
    # after a tag) ends with that flow's unit.
    end = {group.name: group.name if group.name in grouped else group.flows[0] for group in groups}
    plan_units = plan.units()
    units: list[Unit] = []
    for group in groups:
        if group.name in grouped:
            deps = tuple(end[dep] for dep in group.deps)
            units.append(Unit(group.name, group_step(group, plan), None, deps))
            continue
        for unit in plan_units:
            if unit.flow == group.flows[0]:
                deps = tuple(dict.fromkeys(done_by.get(dep, dep) for dep in unit.deps))
                units.append(Unit(unit.id, unit.step, unit.partition, deps))
    return tuple(units), grouped


def group_step(group: Group, plan: Plan) -> StepPlan:
    """A step standing for the group, for :meth:`PrefectTranslator.get_task_options`.

    No retries: the flows inside retry on their own, as their flows say, and a Prefect
    retry would only find the succeeded ones unchanged.
    """
    steps = [plan.step(flow) for flow in group.flows]
    return StepPlan(
        name=group.name,
        description=f"flows {', '.join(group.flows)} of factory {plan.factory!r}, run as one task",
        tags=tuple(sorted({tag for step in steps for tag in step.tags})),
    )


def make_group_task(translator: PrefectTranslator, step: StepPlan) -> Task:  # type: ignore[type-arg]
    """The Prefect task that runs a group of flows; ``step`` (:func:`group_step`) gives its
    options through the translator's one override point, as for a flow."""
    return task(run_group_task, **translator.get_task_options(step))


def run_group_task(
    factory: Factory | str, group: str, flows: tuple[str, ...], store: Store, force: bool,
    run_id: str, plan: Plan | None = None,
) -> dict[str, Any]:
    """The body of a group's task: run its flows, publish each dataset, fail naming the flow.

    Returns ``{unit id: StepResult dict}`` for every flow (and partition) of the group.
    """
    from ..adapters.group_run import GroupError, run_group  # imports the runner: task side only

    with _forward_logs(get_run_logger()):
        report = run_group(factory, flows, group=group, store=store, force=force, run_id=run_id,
                           plan=plan, lineage_parent=task_parent())
    for result in report.results.values():
        if result.status in (SUCCEEDED, SKIPPED):
            publish_artifacts(result)
    if not report.ok:
        raise GroupError(group, report)
    return {unit: result.to_dict() for unit, result in report.results.items()}
