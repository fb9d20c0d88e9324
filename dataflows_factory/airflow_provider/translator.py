"""From a flow's :class:`StepPlan` to the options of its Airflow task: one override point.

Subclass :class:`DataflowsTranslator` and override :meth:`~DataflowsTranslator.get_task_spec`
to change how flows become tasks (pools or queues per tag, extra owners, other Asset URIs)
without touching the builders; :meth:`~DataflowsTranslator.get_group_spec` does the same for
the task of a group of flows (``build_dag(group_by=...)``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from ..adapters.groups import Group
from ..adapters.plan import Plan, StepPlan
from ..store import Store
from ._compat import Asset
from ._ids import asset_uri, task_id_for

__all__ = ["DataflowsTranslator", "TaskSpec"]


@dataclass(frozen=True)
class TaskSpec:
    """The Airflow options of one flow's task. ``None`` retries inherit ``default_args``."""

    task_id: str
    retries: int | None = None
    retry_delay: timedelta | None = None
    outlets: tuple[Any, ...] = ()
    inlets: tuple[Any, ...] = ()
    doc_md: str | None = None
    operator_kwargs: Mapping[str, Any] = field(default_factory=dict)

    def to_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :class:`DataflowsFlowOperator` (unset options left out)."""
        kwargs: dict[str, Any] = {"task_id": self.task_id, "outlets": list(self.outlets),
                                  "inlets": list(self.inlets), "doc_md": self.doc_md}
        if self.retries is not None:
            kwargs["retries"] = self.retries
        if self.retry_delay is not None:
            kwargs["retry_delay"] = self.retry_delay
        return {**kwargs, **self.operator_kwargs}


class DataflowsTranslator:
    """Translate plan steps into :class:`TaskSpec` records; override :meth:`get_task_spec`.

    >>> import dataclasses
    >>> class ByTag(DataflowsTranslator):
    ...     def get_task_spec(self, plan, step):
    ...         spec = super().get_task_spec(plan, step)
    ...         if "heavy" in step.tags:
    ...             return dataclasses.replace(spec, operator_kwargs={"pool": "big_memory"})
    ...         return spec
    >>> dag = build_dag("/srv/world/factory.py", translator=ByTag())
    """

    def get_task_spec(self, plan: Plan, step: StepPlan) -> TaskSpec:
        """The task of ``step``: its id, retries, Asset outlet (its dataset), inlets, docs.

        A flow's own ``retries`` (with its ``retry_delay``, 0 s included, as on the local
        runner) are set only when the flow has some, so other flows inherit the DAG's
        ``default_args``. Inlets are the datasets the flow reads: ``after=`` flows are not.
        """
        return TaskSpec(
            task_id=task_id_for(step.name),
            retries=step.retries or None,
            retry_delay=timedelta(seconds=step.retry_delay) if step.retries else None,
            outlets=(self.get_asset(plan, step.name),),
            inlets=tuple(self.get_asset(plan, name) for name in step.inputs),
            doc_md=step.description or None,
        )

    def get_group_spec(self, plan: Plan, group: Group) -> TaskSpec:
        """The task of a group of flows: its id, retries, Asset outlets, inlets, docs.

        One Asset outlet per flow of the group; inlets are the datasets its flows read from
        outside it. ``retries`` is 0: each flow retries inside the task by its own
        ``retries`` (as on the local runner), and retrying the whole task on top would rerun
        the flows that already used theirs (the unchanged ones would skip). Override to
        change it, e.g. ``dataclasses.replace(spec, retries=1)`` against lost workers.
        """
        members = set(group.flows)
        steps = [plan.step(name) for name in group.flows]
        read = dict.fromkeys(name for step in steps for name in step.inputs if name not in members)
        lines = [f"Flows {', '.join(f'`{name}`' for name in group.flows)} of factory "
                 f"`{plan.factory}`, run as one task (dependency order, each skipped when unchanged)."]
        lines += [f"- `{step.name}`: {step.description}" for step in steps if step.description]
        return TaskSpec(
            task_id=task_id_for(group.name),
            retries=0,
            outlets=tuple(self.get_asset(plan, name) for name in group.flows),
            inlets=tuple(self.get_asset(plan, name) for name in read),
            doc_md="\n".join(lines),
        )

    def get_asset(self, plan: Plan, flow: str) -> Any:
        """The Asset of ``flow``'s dataset in ``plan``'s store (``flow`` need not be selected)."""
        location = Store(plan.store).dataset_url(plan.factory, flow)
        return Asset(uri=asset_uri(location), extra={"factory": plan.factory, "flow": flow})
