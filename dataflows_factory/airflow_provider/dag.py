"""Factory -> Airflow DAG (or TaskGroup): one task per flow, edges from the Plan.

A partitioned flow becomes two tasks: ``<flow>.partition``, mapped over the partitions
(Airflow dynamic task mapping, one task instance per partition, which any worker may
run), then ``<flow>``, the merge of the parts, on which downstream tasks depend.

Builders compile a :class:`~dataflows_factory.adapters.plan.Plan`, so building runs no flow
and reads no data: a DAG file that calls :func:`build_dag` parses in milliseconds
(``benchmarks/airflow_parse.py`` measures it).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from ..adapters.plan import Plan
from ..errors import FactoryRefError
from ..factory import Factory, load_factory
from ..store import Store
from ._compat import DAG, TaskGroup
from ._ids import partition_task_id, task_id_for
from .operator import DataflowsFlowOperator
from .translator import DataflowsTranslator, TaskSpec

__all__ = ["build_dag", "build_task_group"]

FactoryLike = Factory | str | os.PathLike[str]


def build_dag(
    factory: FactoryLike,
    *,
    dag_id: str | None = None,
    schedule: Any = None,
    select: str | Iterable[str] | None = None,
    store: str | os.PathLike[str] | Store | None = None,
    force: bool | str = False,
    task_kwargs: Mapping[str, Any] | None = None,
    translator: DataflowsTranslator | None = None,
    **dag_kwargs: Any,
) -> Any:
    """A DAG with one :class:`DataflowsFlowOperator` per flow of ``factory``.

    ``factory`` is a :class:`Factory` or a reference (``path/to/factory.py[:attr]``,
    ``module:attr``); ``select`` takes the local runner's selection syntax (``+name``,
    ``name+``, ``tag:x``); ``task_kwargs`` go to every operator (``pool``, ``queue``...);
    ``translator`` customises each flow's task (see :class:`DataflowsTranslator`); the rest
    goes to :class:`airflow.sdk.DAG`. A flow's own ``retries`` win over ``default_args``.

    >>> dag = build_dag("/srv/world/factory.py", dag_id="world", schedule="@daily",
    ...                 select="+key_metrics", default_args={"owner": "data"})
    """
    plan = _plan(factory, select, store)
    dag_kwargs.setdefault("description", plan.description or f"dataflows-factory {plan.factory!r}")
    dag_kwargs.setdefault("tags", ["dataflows-factory", plan.factory])
    with DAG(dag_id=dag_id or task_id_for(plan.factory), schedule=schedule, **dag_kwargs) as dag:
        _add_tasks(plan, force=force, task_kwargs=task_kwargs or {}, translator=translator)
    return dag


def build_task_group(
    factory: FactoryLike,
    *,
    group_id: str | None = None,
    select: str | Iterable[str] | None = None,
    store: str | os.PathLike[str] | Store | None = None,
    force: bool | str = False,
    task_kwargs: Mapping[str, Any] | None = None,
    translator: DataflowsTranslator | None = None,
    **group_kwargs: Any,
) -> Any:
    """A TaskGroup of the factory's flows, to embed a factory inside an existing DAG.

    Call it inside a ``with DAG(...)`` block (or pass ``dag=``); it returns the group, so
    other tasks can depend on the whole factory:

    >>> with DAG("nightly", schedule="@daily") as dag:
    ...     extract >> build_task_group("/srv/world/factory.py", group_id="world") >> notify
    """
    plan = _plan(factory, select, store)
    group_kwargs.setdefault("tooltip", plan.description or f"dataflows-factory {plan.factory!r}")
    with TaskGroup(group_id=group_id or task_id_for(plan.factory), **group_kwargs) as group:
        _add_tasks(plan, force=force, task_kwargs=task_kwargs or {}, translator=translator)
    return group


def _plan(factory: FactoryLike, select: str | Iterable[str] | None,
          store: str | os.PathLike[str] | Store | None) -> Plan:
    loaded = load_factory(factory if isinstance(factory, Factory) else os.fspath(factory))
    plan = loaded.plan(select=select, store=store)
    if plan.factory_ref is None:
        raise FactoryRefError(
            f"factory {plan.factory!r} cannot be imported by Airflow's workers: define it at "
            "module level in a file and pass build_dag() the file path (or 'module:attr')"
        )
    return plan


def _add_tasks(plan: Plan, *, force: bool | str, task_kwargs: Mapping[str, Any],
               translator: DataflowsTranslator | None) -> dict[str, Any]:
    """One task per unit of the plan, edges from the units' deps; a partitioned flow's parts
    become one mapped task (any worker may run any part), its merge the flow's own task."""
    translator = translator or DataflowsTranslator()
    factory_ref = str(plan.factory_ref)  # checked by _plan()
    specs = {step.name: translator.get_task_spec(plan, step) for step in plan.steps}
    # The store resolved now, at parse time, so that the task writes exactly where its
    # Asset outlet says, whatever DFF_STORE a worker may have.
    common: dict[str, dict[str, Any]] = {
        name: {"factory_ref": factory_ref, "flow": name, "store": plan.store, "force": force}
        for name in specs}
    tasks: dict[str, Any] = {}  # unit id -> the task that runs it
    mapped: dict[str, Any] = {}  # partitioned flow -> its one mapped task
    for unit in plan.units():
        name = unit.flow
        if unit.partition is None:
            # Passed explicitly, the flow's options win over the DAG's default_args.
            tasks[unit.id] = DataflowsFlowOperator(
                plan=plan, translator=translator, **common[name],
                **{**specs[name].to_kwargs(), **task_kwargs})
            continue
        if name not in mapped:
            mapped[name] = _partition_tasks(specs[name], unit.step.partitions, common[name],
                                            task_kwargs)
        tasks[unit.id] = mapped[name]
    edges = {(tasks[dep], tasks[unit.id]) for unit in plan.units() for dep in unit.deps}
    for upstream, downstream in edges:
        upstream >> downstream
    return {step.name: tasks[step.name] for step in plan.steps}


def _partition_tasks(spec: TaskSpec, partitions: tuple[str, ...], common: Mapping[str, Any],
                     task_kwargs: Mapping[str, Any]) -> Any:
    """One mapped task over ``partitions``; the values are in the plan, known at parse time."""
    # Mapped tasks take their options from .partial() (the scheduler reads retries and
    # pools there), so the spec goes in whole; the part datasets get no Asset of their
    # own: the merge task publishes the flow's Asset once every part exists.
    kwargs = {**spec.to_kwargs(), "task_id": partition_task_id(spec.task_id), "outlets": [],
              "map_index_template": "{{ task.partition }}", **task_kwargs}
    return DataflowsFlowOperator.partial(**common, **kwargs).expand(partition=list(partitions))
