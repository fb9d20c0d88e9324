"""Factory -> Airflow DAG (or TaskGroup): one task per flow, edges from the Plan.

A partitioned flow becomes two tasks: ``<flow>.partition``, mapped over the partitions
(Airflow dynamic task mapping, one task instance per partition, which any worker may
run), then ``<flow>``, the merge of the parts, on which downstream tasks depend.

Builders compile a :class:`~dataflows_factory.adapters.plan.Plan`, so building runs no flow
and reads no data: a DAG file that calls :func:`build_dag` parses in milliseconds
(``benchmarks/airflow_parse.py`` measures it). From a compiled plan (``plan=``, written by
``dff compile``) building imports neither the factory nor ``dataflows``: this module and
the operators import them only inside the functions that need them.

``group_by`` chooses how flows become tasks (:func:`~dataflows_factory.adapters.groups.group_plan`):
a group of one flow is that flow's own task(s), as above; a bigger group is one
:class:`~.group.DataflowsGroupOperator`, with one Asset outlet per flow of the group.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypeAlias

from ..adapters.compiled import read_plan
from ..adapters.groups import Group, Grouping, group_plan
from ..adapters.plan import Plan, StepPlan
from ..errors import FactoryRefError
from ..store import Store
from ._compat import DAG, TaskGroup
from ._ids import partition_task_id, task_id_for
from .group import DataflowsGroupOperator
from .operator import DataflowsFlowOperator
from .translator import DataflowsTranslator, TaskSpec

if TYPE_CHECKING:
    from ..factory import Factory

__all__ = ["build_dag", "build_task_group"]

FactoryLike: TypeAlias = "Factory | str | os.PathLike[str]"
PlanLike: TypeAlias = "Plan | str | os.PathLike[str]"
StoreLike: TypeAlias = "str | os.PathLike[str] | Store"


def build_dag(
    factory: FactoryLike | None = None,
    *,
    plan: PlanLike | None = None,
    group_by: Grouping = "flow",
    python: str | None = None,
    dag_id: str | None = None,
    schedule: Any = None,
    select: str | Iterable[str] | None = None,
    store: StoreLike | None = None,
    force: bool | str = False,
    task_kwargs: Mapping[str, Any] | None = None,
    translator: DataflowsTranslator | None = None,
    **dag_kwargs: Any,
) -> Any:
    """A DAG of the flows of ``factory`` (or of a compiled ``plan``): a task per flow by default.

    ``factory`` is a :class:`Factory` or a reference (``path/to/factory.py[:attr]``,
    ``module:attr``). ``plan`` instead is the path of a plan written by ``dff compile`` (or a
    :class:`Plan`): parsing the DAG file then imports neither the factory nor ``dataflows``,
    and each task checks the plan against the factory's code before it runs (a stale plan
    fails with one line: re-run ``dff compile``). Give exactly one of the two.

    ``group_by`` chooses the granularity: ``"flow"`` (a task per flow), ``"tag"`` (the
    flows sharing their first tag in one task), ``"factory"`` (one task), or a function
    ``StepPlan -> str | None`` naming each flow's group (``None``: a task of its own).
    ``python`` runs every flow with that interpreter (the flows' virtualenv,
    :class:`~.external.DataflowsExternalFlowOperator`); it needs ``plan=`` as a path, and
    one task per flow for now.

    ``select`` takes the local runner's selection syntax (``+name``, ``name+``, ``tag:x``);
    ``store`` overrides where datasets go (with a plan, its outputs are re-rooted there;
    the plan's code hash does not cover the store); ``task_kwargs`` go to every operator
    (``pool``, ``queue``...); ``translator`` customises each task (see
    :class:`DataflowsTranslator`); the rest goes to :class:`airflow.sdk.DAG`. A flow's own
    ``retries`` win over ``default_args``; a group task has ``retries=0`` (its flows retry
    inside it).

    >>> dag = build_dag("/srv/world/factory.py", dag_id="world", schedule="@daily",
    ...                 select="+key_metrics", default_args={"owner": "data"})
    >>> dag = build_dag(plan="/srv/world/world.plan.json", group_by="tag")
    """
    source = _source(factory, plan, select, store)
    _check_python(python, group_by, source.path)
    dag_kwargs.setdefault("description", source.plan.description or
                          f"dataflows-factory {source.plan.factory!r}")
    dag_kwargs.setdefault("tags", ["dataflows-factory", source.plan.factory])
    with DAG(dag_id=dag_id or task_id_for(source.plan.factory), schedule=schedule, **dag_kwargs) as dag:
        _add_tasks(source, group_by=group_by, python=python, force=force,
                   task_kwargs=task_kwargs or {}, translator=translator)
    return dag


def build_task_group(
    factory: FactoryLike | None = None,
    *,
    plan: PlanLike | None = None,
    group_by: Grouping = "flow",
    python: str | None = None,
    group_id: str | None = None,
    select: str | Iterable[str] | None = None,
    store: StoreLike | None = None,
    force: bool | str = False,
    task_kwargs: Mapping[str, Any] | None = None,
    translator: DataflowsTranslator | None = None,
    **group_kwargs: Any,
) -> Any:
    """A TaskGroup of the factory's flows, to embed a factory inside an existing DAG.

    Takes what :func:`build_dag` takes (``plan=``, ``group_by=``, ``python=`` included).
    Call it inside a ``with DAG(...)`` block (or pass ``dag=``); it returns the group, so
    other tasks can depend on the whole factory:

    >>> with DAG("nightly", schedule="@daily") as dag:
    ...     extract >> build_task_group("/srv/world/factory.py", group_id="world") >> notify
    """
    source = _source(factory, plan, select, store)
    _check_python(python, group_by, source.path)
    group_kwargs.setdefault("tooltip", source.plan.description or
                            f"dataflows-factory {source.plan.factory!r}")
    with TaskGroup(group_id=group_id or task_id_for(source.plan.factory), **group_kwargs) as group:
        _add_tasks(source, group_by=group_by, python=python, force=force,
                   task_kwargs=task_kwargs or {}, translator=translator)
    return group


@dataclass(frozen=True)
class _Source:
    """The plan to build tasks from, and the compiled plan file the tasks check (if any)."""

    plan: Plan
    path: str | None = None


def _source(factory: FactoryLike | None, plan: PlanLike | None,
            select: str | Iterable[str] | None, store: StoreLike | None) -> _Source:
    if factory is not None and plan is None:
        # Only a DAG built from the factory itself imports it (and dataflows) at parse time.
        from ..factory import Factory, load_factory

        loaded = load_factory(factory if isinstance(factory, Factory) else os.fspath(factory))
        built = _Source(loaded.plan(select=select, store=store))
    elif plan is not None and factory is None:
        built = _from_plan(plan, select, store)
    else:
        raise ValueError("build_dag(): give a factory or plan= (a plan compiled by `dff compile`), "
                         f"exactly one of them; got factory={factory!r}, plan={plan!r}")
    if built.plan.factory_ref is None:
        raise FactoryRefError(
            f"factory {built.plan.factory!r} cannot be imported by Airflow's workers: define it at "
            "module level in a file and pass build_dag() the file path (or 'module:attr')"
        )
    return built


def _from_plan(plan: PlanLike, select: str | Iterable[str] | None,
               store: StoreLike | None) -> _Source:
    """A compiled plan, selected, its outputs re-rooted in ``store``; the tasks check its file."""
    path = None if isinstance(plan, Plan) else os.path.abspath(os.fspath(plan))
    loaded = plan if isinstance(plan, Plan) else read_plan(path or "")
    if store is not None:
        # The store is a deployment's choice, not part of the code hash: the tasks run the
        # same flows into this store instead.
        target = store if isinstance(store, Store) else Store(store)
        loaded = replace(loaded, store=target.url, steps=tuple(
            replace(step, output=target.dataset_url(loaded.factory, step.name))
            for step in loaded.steps))
    return _Source(loaded.select(select), path)


def _check_python(python: str | None, group_by: Grouping, path: str | None) -> None:
    if python is None:
        return
    if group_by != "flow":
        raise ValueError(f"build_dag(python={python!r}) runs one task per flow for now: drop "
                         f"group_by={group_by!r}, or python= to group flows in Airflow's interpreter")
    if path is None:
        raise ValueError(f"build_dag(python={python!r}) needs plan= as the path of a compiled plan "
                         "(`dff compile FILE -o PLAN.json`): tasks run by another interpreter read it")


def _add_tasks(source: _Source, *, group_by: Grouping, python: str | None, force: bool | str,
               task_kwargs: Mapping[str, Any], translator: DataflowsTranslator | None) -> dict[str, Any]:
    """The plan's groups as tasks, edges from the units' deps; returns flow name -> its task.

    A group of one flow becomes that flow's task(s): one per unit, a partitioned flow's
    parts one mapped task (any worker may run any part), its merge the flow's own task. A
    bigger group is one task that runs every unit of its flows, so an edge between two
    units becomes one between their tasks: exactly the groups' ``deps``.
    """
    plan = source.plan
    translator = translator or DataflowsTranslator()
    # The store resolved now, at parse time, so that the task writes exactly where its
    # Asset outlets say, whatever DFF_STORE a worker may have.
    common: dict[str, Any] = {"factory_ref": str(plan.factory_ref), "store": plan.store,
                              "force": force, "plan_path": source.path}
    tasks: dict[str, Any] = {}  # unit id -> the task that runs it
    for group in group_plan(plan, group_by):
        if len(group.flows) == 1:
            tasks.update(_flow_tasks(plan, plan.step(group.flows[0]), common, python=python,
                                     task_kwargs=task_kwargs, translator=translator))
            continue
        task = _group_task(plan, group, common, task_kwargs, translator)
        tasks.update({unit.id: task for unit in plan.units() if unit.flow in group.flows})
    edges = {(tasks[dep], tasks[unit.id]) for unit in plan.units() for dep in unit.deps
             if tasks[dep] is not tasks[unit.id]}
    for upstream, downstream in edges:
        upstream >> downstream
    return {step.name: tasks[step.name] for step in plan.steps}


def _flow_tasks(plan: Plan, step: StepPlan, common: Mapping[str, Any], *, python: str | None,
                task_kwargs: Mapping[str, Any], translator: DataflowsTranslator) -> dict[str, Any]:
    """The task of one flow (unit id -> task): itself, or its mapped parts and its merge."""
    operator: type[Any] = DataflowsFlowOperator
    kwargs = {**common, "flow": step.name}
    if python is not None:
        # Imported only when asked for: it is the other-interpreter variant of the same task.
        from .external import DataflowsExternalFlowOperator

        operator, kwargs = DataflowsExternalFlowOperator, {**kwargs, "python": python}
    spec = translator.get_task_spec(plan, step)
    # Passed explicitly, the flow's options win over the DAG's default_args.
    merge = operator(plan=plan, translator=translator, **kwargs, **{**spec.to_kwargs(), **task_kwargs})
    if not step.partitioned:
        return {step.name: merge}
    parts = _partition_tasks(operator, spec, step.partitions, kwargs, task_kwargs)
    return {**{unit.id: parts for unit in plan.units() if unit.flow == step.name}, step.name: merge}


def _group_task(plan: Plan, group: Group, common: Mapping[str, Any], task_kwargs: Mapping[str, Any],
                translator: DataflowsTranslator) -> Any:
    spec = translator.get_group_spec(plan, group)
    return DataflowsGroupOperator(group=group.name, flows=group.flows, **common,
                                  **{**spec.to_kwargs(), **task_kwargs})


def _partition_tasks(operator: type[Any], spec: TaskSpec, partitions: tuple[str, ...],
                     common: Mapping[str, Any], task_kwargs: Mapping[str, Any]) -> Any:
    """One mapped task over ``partitions``; the values are in the plan, known at parse time."""
    # Mapped tasks take their options from .partial() (the scheduler reads retries and
    # pools there), so the spec goes in whole; the part datasets get no Asset of their
    # own: the merge task publishes the flow's Asset once every part exists.
    kwargs = {**spec.to_kwargs(), "task_id": partition_task_id(spec.task_id), "outlets": [],
              "map_index_template": "{{ task.partition }}", **task_kwargs}
    return operator.partial(**common, **kwargs).expand(partition=list(partitions))
