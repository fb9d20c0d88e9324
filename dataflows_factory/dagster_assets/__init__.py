"""Dagster: a factory's datasets as assets, with metadata, checks and a resource.

One asset per flow (key ``factory/flow``, group = factory, deps from the plan); a
:class:`FactoryResource` runs flows through :func:`~dataflows_factory.run_step` and records
row counts, schemas, URI and content hash (as the data version) on each materialization,
plus a ``dataset_valid`` asset check. A partitioned flow is a statically partitioned asset:
each partition's materialization writes its part, then merges the parts once all exist::

    from dagster import Definitions
    from dataflows_factory import load_factory
    from dataflows_factory.dagster_assets import FactoryResource, build_assets

    factory = load_factory("examples/world/factory.py")
    defs = Definitions(assets=build_assets(factory), resources={"dff": FactoryResource()})

Execution modes (``docs/dagster.md``): ``build_assets(plan="world.plan.json")`` loads from a
compiled plan without importing the factory or ``dataflows``; ``group_by="tag"|"factory"|fn``
runs a group's flows in one subsettable op, each flow still its own asset; ``python=PYTHON``
runs each flow in that interpreter through Dagster Pipes (:mod:`.pipes`).

Importing this package without Dagster raises :class:`~dataflows_factory.MissingExtraError`.
"""

from . import _compat  # noqa: F401  (first: fails early, with the pip line, without Dagster)
from .builder import CHECK_NAME, build_asset_specs, build_check_specs
from .decorator import DEFAULT_RESOURCE_KEY, build_assets, factory_assets
from .resource import FactoryResource
from .translator import DagsterFactoryTranslator, FlowAssetData, dagster_name, default_asset_key

__all__ = [
    "CHECK_NAME",
    "DEFAULT_RESOURCE_KEY",
    "DagsterFactoryTranslator",
    "FactoryResource",
    "FlowAssetData",
    "build_asset_specs",
    "build_assets",
    "build_check_specs",
    "dagster_name",
    "default_asset_key",
    "factory_assets",
]
