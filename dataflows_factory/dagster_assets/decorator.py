"""``@factory_assets`` (one op for many flows, like ``@dbt_assets``) and ``build_assets``
(one op per flow, each with its own ``RetryPolicy``): both thin wrappers over
:func:`~dagster.multi_asset` and the pure :func:`build_asset_specs`.
"""

# No `from __future__ import annotations`: Dagster reads the compute function's `context`
# annotation at definition time and rejects it as a string.

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..adapters.groups import Group, Grouping, group_plan
from ..adapters.plan import StepPlan
from ..errors import FactoryDefinitionError
from ._compat import AssetExecutionContext, AssetsDefinition, AssetSpec, RetryPolicy, multi_asset
from .builder import PlanSource, asset_specs, build_check_specs, source_plan
from .translator import DagsterFactoryTranslator, dagster_name

if TYPE_CHECKING:
    from ..factory import Factory

__all__ = ["DEFAULT_RESOURCE_KEY", "build_assets", "factory_assets"]

DEFAULT_RESOURCE_KEY = "dff"


def factory_assets(
    *,
    factory: "Factory | str | None" = None,
    plan: PlanSource | None = None,
    select: str | Iterable[str] | None = None,
    translator: DagsterFactoryTranslator | None = None,
    name: str | None = None,
    retry_policy: RetryPolicy | None = None,
    blocking_checks: bool = True,
    required_resource_keys: set[str] | None = None,
    op_tags: Mapping[str, Any] | None = None,
    pool: str | None = None,
) -> Callable[[Callable[..., Any]], AssetsDefinition]:
    """The flows of ``factory`` (or a ``select``-ion, ``+name``/``name+``/``tag:x``) as the
    assets of one op; the decorated function runs them, usually through the resource::

        from dagster import AssetExecutionContext, Definitions
        from dataflows_factory.dagster_assets import FactoryResource, factory_assets

        @factory_assets(factory=factory)
        def world_assets(context: AssetExecutionContext, dff: FactoryResource):
            yield from dff.run(context)

        defs = Definitions(assets=[world_assets], resources={"dff": FactoryResource()})

    Subsets work (``can_subset``): materializing one asset runs one flow. Without an explicit
    ``retry_policy`` the op retries as often as its most-retried flow allows; flows that
    already succeeded are then skipped as unchanged. For per-flow retries and parallel
    steps, use :func:`build_assets`.
    ``plan=`` (a compiled plan or its path) instead of ``factory=`` imports neither the
    factory nor ``dataflows`` when the definitions load.
    """
    full, loaded = source_plan(factory, plan)
    specs = asset_specs(full, loaded, translator=translator, select=select)
    steps = full.select(select).steps
    _one_partitioning(full.factory, steps, specs)
    policy = retry_policy if retry_policy is not None else _retry_policy(steps)

    def decorate(function: Callable[..., Any]) -> AssetsDefinition:
        return _multi_asset(function, specs, name=name or f"{full.factory}_assets", retry_policy=policy,
                            blocking_checks=blocking_checks, required_resource_keys=required_resource_keys,
                            op_tags=op_tags, pool=pool)

    return decorate


def build_assets(
    factory: "Factory | str | None" = None,
    *,
    plan: PlanSource | None = None,
    translator: DagsterFactoryTranslator | None = None,
    select: str | Iterable[str] | None = None,
    group_by: Grouping = "flow",
    python: str | None = None,
    resource_key: str = DEFAULT_RESOURCE_KEY,
    blocking_checks: bool = True,
    pool: str | None = None,
) -> list[AssetsDefinition]:
    """One asset per flow; by default each computed by its own op with the flow's ``RetryPolicy``.

    >>> defs = Definitions(assets=build_assets(factory), resources={"dff": FactoryResource()})

    Each op calls ``FactoryResource.run`` (resource ``resource_key``): the flow runs through
    :func:`~dataflows_factory.run_step`, in the step's process, under Dagster's executor.

    - ``plan=`` (a compiled plan, ``dff compile``, or its path) instead of a factory: loading
      the definitions imports neither the factory nor ``dataflows``; each op first checks
      the factory's code against the plan and fails, without retries, when it changed.
    - ``group_by="tag"`` / ``"factory"`` / a function ``StepPlan -> str | None``: the flows
      of a group share one op, a subsettable multi-asset that runs them like ``dff run``
      (``FactoryResource.run_group``); every flow keeps its own asset. See
      :func:`~dataflows_factory.adapters.groups.group_plan`.
    - ``python=``: each flow runs with that interpreter (the flows' own virtualenv, with
      ``dataflows-factory`` and ``dagster-pipes``) through Dagster Pipes; see :mod:`.pipes`.
    """
    full, loaded = source_plan(factory, plan)
    specs = asset_specs(full, loaded, translator=translator, select=select)
    selected = full.select(select)
    by_flow = dict(zip(selected.names, specs, strict=True))
    # A group op runs without a partition key: partitioned flows keep an op of their own.
    groups = group_plan(selected, group_by, alone=lambda step: step.partitioned)
    if python is not None and any(not group.single for group in groups):
        raise FactoryDefinitionError(
            f"factory {full.factory!r}: python= runs each flow through Dagster Pipes in its own op; "
            "it cannot be combined with group_by (use one or the other)")
    assets = []
    for group in groups:
        if not group.single:
            assets.append(_group_asset(full.factory, group, [by_flow[f] for f in group.flows],
                                       [selected.step(f) for f in group.flows], resource_key=resource_key,
                                       blocking_checks=blocking_checks, pool=pool))
            continue
        step, spec = selected.step(group.name), by_flow[group.name]
        if python is not None:
            from .pipes import pipes_compute

            compute = pipes_compute(step, python, resource_key)
        else:
            compute = _flow_compute(resource_key)
        assets.append(_multi_asset(
            compute, [spec], name=f"{full.factory}__{step.name}", retry_policy=_retry_policy([step]),
            blocking_checks=blocking_checks, required_resource_keys={resource_key}, op_tags=None,
            pool=pool,
        ))
    return assets


def _flow_compute(resource_key: str) -> Callable[..., Iterator[Any]]:
    def compute(context: AssetExecutionContext) -> Iterator[Any]:
        yield from getattr(context.resources, resource_key).run(context)

    return compute


def _group_asset(factory: str, group: Group, specs: Sequence[AssetSpec], steps: Sequence[StepPlan], *,
                 resource_key: str, blocking_checks: bool, pool: str | None) -> AssetsDefinition:
    # The group's op runs all its flows for one run: a partition key would fit only some.
    partitioned = [step.name for step in steps if step.partitioned]
    if partitioned:
        raise FactoryDefinitionError(
            f"factory {factory!r}: group {group.name!r} holds partitioned flow(s) {partitioned}; a "
            "group op runs without a partition key, so give each partitioned flow an op of its own "
            "(a group_by function returning None for it)")

    def compute(context: AssetExecutionContext) -> Iterator[Any]:
        yield from getattr(context.resources, resource_key).run_group(context, group=group.name)

    # No op retry policy: run_group retries each flow as its retries= says, inside the op.
    return _multi_asset(compute, specs, name=f"{factory}__{group.name}", retry_policy=None,
                        blocking_checks=blocking_checks, required_resource_keys={resource_key},
                        op_tags=None, pool=pool)


def _one_partitioning(factory: str, steps: Sequence[StepPlan], specs: Sequence[AssetSpec]) -> None:
    # One op runs for one partition key (or none): its assets must share one partitioning.
    groups: dict[Any, list[str]] = {}
    for step, spec in zip(steps, specs, strict=True):
        groups.setdefault(spec.partitions_def, []).append(step.name)
    if len(groups) > 1:
        raise FactoryDefinitionError(
            f"factory {factory!r}: @factory_assets puts flows with different partitions in one op "
            f"({' vs '.join(str(names) for names in groups.values())}); use build_assets (one op "
            "per flow), or select= each partitioning into its own @factory_assets"
        )


def _retry_policy(steps: Sequence[StepPlan]) -> RetryPolicy | None:
    retries = max((step.retries for step in steps), default=0)
    if not retries:
        return None
    delay = max(step.retry_delay for step in steps)
    return RetryPolicy(max_retries=retries, delay=delay or None)


def _multi_asset(
    function: Callable[..., Any], specs: Sequence[AssetSpec], *, name: str, retry_policy: RetryPolicy | None,
    blocking_checks: bool, required_resource_keys: set[str] | None, op_tags: Mapping[str, Any] | None,
    pool: str | None,
) -> AssetsDefinition:
    return multi_asset(
        specs=specs,
        check_specs=build_check_specs(specs, blocking=blocking_checks),
        name=dagster_name(name),
        can_subset=True,
        retry_policy=retry_policy,
        required_resource_keys=required_resource_keys,
        op_tags=op_tags,
        pool=pool,
    )(function)
