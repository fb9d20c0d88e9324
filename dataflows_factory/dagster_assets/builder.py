"""Factory -> Dagster asset specs and check specs: pure, runs no flow, reads no data.

This is the layer :func:`factory_assets` and :func:`build_assets` wrap; it is also useful
on its own (``Definitions(assets=build_asset_specs(factory))`` shows the graph as external
assets, for a factory run by something else).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..adapters.compiled import read_plan
from ..adapters.plan import Plan
from ..errors import FactoryDefinitionError
from ._compat import AssetCheckSpec, AssetDep, AssetKey, AssetSpec
from .translator import DagsterFactoryTranslator, FlowAssetData, default_asset_key

if TYPE_CHECKING:  # the factory (and dataflows) load lazily: a compiled plan needs neither
    from ..factory import Factory

__all__ = ["CHECK_NAME", "FACTORY_KEY", "FLOW_KEY", "PlanSource", "asset_specs", "build_asset_specs",
           "build_check_specs", "registered_factory", "registered_plan", "registered_plan_path",
           "source_plan"]

FLOW_KEY = "dataflows_factory/flow"
FACTORY_KEY = "dataflows_factory/factory"
CHECK_NAME = "dataset_valid"

PlanSource = Plan | str | os.PathLike[str]
"""A compiled plan (``dff compile``): the :class:`Plan`, or the path of its JSON file."""

# Asset metadata must be serialisable, so a spec names its factory by reference and the
# resource finds the Factory object here (every process that loads the definitions fills it).
_FACTORIES: dict[str, Factory] = {}
# The compiled plans definitions were built from, by factory reference: the resource checks
# the factory's code against its plan before running anything (and a Pipes step, the file).
_PLANS: dict[str, tuple[Plan, str | None]] = {}


def _register(factory: Factory, plan: Plan) -> str:
    key = plan.factory_ref or factory.name
    # Last one wins: `dagster dev` re-imports a changed definitions file in the same process.
    _FACTORIES[key] = factory
    return key


def registered_factory(reference: str) -> Factory:
    """The factory a spec's metadata names: registered at build time, else imported."""
    from ..factory import load_factory

    found = _FACTORIES.get(reference)
    return found if found is not None else load_factory(reference)


def registered_plan(reference: str) -> Plan | None:
    """The compiled plan the assets of factory ``reference`` were built from, if any."""
    return _PLANS.get(reference, (None, None))[0]


def registered_plan_path(reference: str) -> str | None:
    """The file of that compiled plan, when the assets were built from a path."""
    return _PLANS.get(reference, (None, None))[1]


def source_plan(factory: Factory | str | None, plan: PlanSource | None) -> tuple[Plan, Factory | None]:
    """The whole plan to build assets from, and the factory when one was given.

    From a compiled ``plan`` nothing is imported: neither the factory nor ``dataflows``.
    """
    if (factory is None) == (plan is None):
        raise TypeError("give either a factory or a compiled plan= (`dff compile`), not both or neither")
    if plan is not None:
        compiled = plan if isinstance(plan, Plan) else read_plan(plan)
        if not compiled.factory_ref:
            raise FactoryDefinitionError(
                f"plan of factory {compiled.factory!r} names no factory_ref: write it with `dff compile`")
        _PLANS[compiled.factory_ref] = (compiled, None if isinstance(plan, Plan) else os.path.abspath(plan))
        return compiled, None
    from ..factory import load_factory

    loaded = load_factory(factory)  # type: ignore[arg-type]  # not None: checked above
    full = loaded.plan()
    _PLANS.pop(_register(loaded, full), None)  # built from the factory again: no plan to check
    return full, loaded


def build_asset_specs(
    factory: Factory | str | None = None,
    *,
    plan: PlanSource | None = None,
    translator: DagsterFactoryTranslator | None = None,
    select: str | Iterable[str] | None = None,
) -> list[AssetSpec]:
    """One :class:`~dagster.AssetSpec` per flow (of the ``select``-ion), in plan order.

    >>> specs = build_asset_specs(factory, select="+key_metrics")
    >>> [spec.key.to_user_string() for spec in specs]
    ['world/countries', 'world/cities', 'world/key_metrics']

    ``plan=`` (a compiled plan or its path) instead of a factory builds the same specs
    without importing the factory or ``dataflows``.
    """
    full, loaded = source_plan(factory, plan)
    return asset_specs(full, loaded, translator=translator, select=select)


def asset_specs(full: Plan, loaded: Factory | None, *, translator: DagsterFactoryTranslator | None,
                select: str | Iterable[str] | None) -> list[AssetSpec]:
    """:func:`build_asset_specs` of a plan :func:`source_plan` gave (the factory's whole plan)."""
    translator = translator or DagsterFactoryTranslator()
    if not isinstance(translator, DagsterFactoryTranslator):
        raise TypeError(f"translator must be a DagsterFactoryTranslator, not {type(translator).__name__}")
    # Translate every flow, not only the selected ones: a selected flow's deps must use the
    # translated keys of upstream flows that stay outside the selection.
    reference = full.factory_ref or full.factory
    translated = {step.name: translator.get_asset_spec(
                      FlowAssetData(full.factory, step, loaded.flows[step.name] if loaded else None))
                  for step in full.steps}
    _check_unique(full.factory, translated)
    _check_partitioned(full.factory, full, translated)
    renamed = {default_asset_key(full.factory, name): spec.key for name, spec in translated.items()}
    chosen = full.select(select).names
    return [_finish(translated[name], name, reference, renamed) for name in chosen]


def build_check_specs(specs: Sequence[AssetSpec], *, blocking: bool = True) -> list[AssetCheckSpec]:
    """The ``dataset_valid`` check of every asset; ``blocking`` keeps a broken dataset's
    downstream assets from running in the same Dagster run."""
    return [
        AssetCheckSpec(
            CHECK_NAME,
            asset=spec.key,
            blocking=blocking,
            description="The stored dataset is whole: every file present with its recorded hash, "
                        "every value valid for its schema type, row counts as recorded.",
        )
        for spec in specs
    ]


def _check_partitioned(factory: str, plan: Plan, specs: Mapping[str, AssetSpec]) -> None:
    # The resource maps Dagster's partition key back to a partition value; without a
    # partitions definition there is no key, and the flow could never run.
    for step in plan.steps:
        if step.partitioned and specs[step.name].partitions_def is None:
            raise FactoryDefinitionError(
                f"factory {factory!r}: flow {step.name!r} is partitioned but its asset has no "
                "partitions_def; keep the translator's default partitions_def for it"
            )


def _check_unique(factory: str, specs: Mapping[str, AssetSpec]) -> None:
    seen: dict[AssetKey, str] = {}
    for name, spec in specs.items():
        if spec.key in seen:
            raise FactoryDefinitionError(
                f"factory {factory!r}: flows {seen[spec.key]!r} and {name!r} both became asset "
                f"{spec.key.to_user_string()!r}; make the translator's get_asset_spec give each "
                "flow its own key"
            )
        seen[spec.key] = name


def _finish(spec: AssetSpec, flow: str, reference: str, renamed: Mapping[AssetKey, AssetKey]) -> AssetSpec:
    deps = [AssetDep(renamed.get(dep.asset_key, dep.asset_key), partition_mapping=dep.partition_mapping)
            for dep in spec.deps]
    metadata: dict[str, Any] = {**spec.metadata, FLOW_KEY: flow, FACTORY_KEY: reference}
    # skippable: when a flow fails inside a multi-flow op, its downstream flows are not
    # run and their outputs are simply absent, which Dagster then reports as skipped.
    return spec.replace_attributes(deps=deps, metadata=metadata, skippable=True)
