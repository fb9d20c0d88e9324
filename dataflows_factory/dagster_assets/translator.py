"""How one flow of a factory looks as a Dagster asset: key, group, description, deps, tags.

The :class:`DagsterFactoryTranslator` has one override point, :meth:`get_asset_spec`; every
name Dagster sees (asset key parts, op names, tag keys) comes from :func:`dagster_name`.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .._naming import safe_id
from ..adapters.plan import StepPlan
from ._compat import AssetKey, AssetSpec, code_reference
from ._partitions import partitions_definition

if TYPE_CHECKING:  # at run time only a loaded factory has FlowSpecs (and imports dataflows)
    from ..flow import FlowSpec

__all__ = ["DagsterFactoryTranslator", "FlowAssetData", "dagster_name", "default_asset_key"]

KIND = "dataflows"
# Dagster tag keys and values are limited to 63 characters; op names have no limit, but
# the same bound keeps every generated name readable in the UI.
MAX_NAME = 63


def dagster_name(text: str, *, max_length: int = MAX_NAME) -> str:
    """A deterministic name Dagster accepts (letters, digits, ``_``) for ``text``.

    Each character Dagster rejects becomes ``_``; a name longer than ``max_length`` is cut
    and given a stable hash suffix, so two long names never collapse into one.

    >>> dagster_name("world")
    'world'
    >>> dagster_name("needs-review")
    'needs_review'
    """
    # Only cut names are hashed, with sha1: the asset keys users already have stay as they are.
    return safe_id(text, allowed="A-Za-z0-9_", max_length=max_length, empty="_", squeeze=False,
                   hash_rewrites=False, algorithm="sha1")


def default_asset_key(factory: str, flow: str) -> AssetKey:
    """``AssetKey([factory, flow])``: the factory name is the key prefix."""
    return AssetKey([dagster_name(factory), dagster_name(flow)])


@dataclass(frozen=True)
class FlowAssetData:
    """What the translator knows about one flow: its factory's name, its plan step, and its
    spec when the assets were built from the factory itself (``None`` from a compiled plan,
    whose step carries the description, tags, partitions and code version instead)."""

    factory: str
    step: StepPlan
    flow: FlowSpec | None = None

    @property
    def code_version(self) -> str:
        return self.step.code_version or (self.flow.code_version if self.flow is not None else "")


class DagsterFactoryTranslator:
    """Turns each flow of a factory into an :class:`~dagster.AssetSpec`.

    Override :meth:`get_asset_spec` and adjust the default with ``replace_attributes`` /
    ``merge_attributes``. Dependencies follow a changed key automatically: the builder
    rewrites deps on default keys to whatever key this translator gave that flow.

    Example, a key prefix, an owner and an automation condition for every asset::

        from dagster import AssetSpec, AutomationCondition
        from dataflows_factory.dagster_assets import DagsterFactoryTranslator, FlowAssetData

        class MyTranslator(DagsterFactoryTranslator):
            def get_asset_spec(self, data: FlowAssetData) -> AssetSpec:
                spec = super().get_asset_spec(data)
                return spec.replace_attributes(
                    key=spec.key.with_prefix("warehouse"),
                    owners=["team:data"],
                    automation_condition=AutomationCondition.eager(),
                )

        assets = build_assets(factory, translator=MyTranslator())
    """

    def get_asset_spec(self, data: FlowAssetData) -> AssetSpec:
        """The asset of one flow: reads no data, so it is safe at definition time."""
        step = data.step
        return AssetSpec(
            key=default_asset_key(data.factory, step.name),
            deps=[default_asset_key(data.factory, up) for up in step.upstream],
            description=step.description or None,
            group_name=dagster_name(data.factory),
            code_version=data.code_version or None,
            tags={dagster_name(tag): "" for tag in step.tags},
            kinds={KIND},
            metadata=_source_metadata(data.flow),
            # A partitioned flow is one asset with one partition per value; its unpartitioned
            # downstream assets depend on all partitions (Dagster's default mapping).
            partitions_def=partitions_definition(step),
        )


def _source_metadata(flow: FlowSpec | None) -> dict[str, object]:
    # "View source" in the UI; a flow built from a lambda or in a REPL simply has none, and
    # neither does a compiled plan (finding the source would mean importing the factory).
    if flow is None:
        return {}
    try:
        path = inspect.getsourcefile(flow.func)
        line = inspect.getsourcelines(flow.func)[1]
    except (OSError, TypeError):
        return {}
    return {"dagster/code_references": code_reference(path, line)} if path else {}
