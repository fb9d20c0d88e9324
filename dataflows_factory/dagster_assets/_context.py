"""What an op's context says: the factory behind its assets, the compiled plan they came
from (checked against the factory's code), and the flows it was asked to materialize."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..adapters.plan import Plan
from ._compat import AssetCheckKey, AssetKey, Failure, MetadataValue
from .builder import CHECK_NAME, FACTORY_KEY, FLOW_KEY, registered_factory, registered_plan

if TYPE_CHECKING:
    from ..factory import Factory

__all__ = ["blocking", "selected", "text"]


def selected(context: Any) -> tuple[Factory, Plan | None, list[tuple[str, AssetKey]]]:
    """The factory behind the op, the compiled plan its assets came from (checked against
    the factory's code), and its selected flows in the plan's (topological) order."""
    found: dict[str, AssetKey] = {}
    references = set()
    for key, spec in context.assets_def.specs_by_key.items():
        if key in context.selected_asset_keys:
            found[text(spec.metadata[FLOW_KEY])] = key
            references.add(text(spec.metadata[FACTORY_KEY]))
    if len(references) != 1:
        raise Failure(f"FactoryResource.run: the selected assets come from {len(references)} "
                      "factories; build one op per factory (factory_assets/build_assets do)")
    reference = references.pop()
    factory = registered_factory(reference)
    compiled = registered_plan(reference)
    if compiled is not None:
        _check_compiled(compiled, factory)
    order = factory.plan().names
    return factory, compiled, sorted(found.items(), key=lambda item: order.index(item[0]))


def _check_compiled(plan: Plan, factory: Factory) -> None:
    """A plan that fell behind its factory's code fails the op at once, without retries."""
    from ..adapters.compiled import StalePlanError, check_plan

    try:
        check_plan(plan, factory)
    except StalePlanError as error:
        raise Failure(description=str(error), allow_retries=False) from None


def blocking(context: Any, key: AssetKey) -> bool:
    """Whether the asset's dataset_valid check holds back its downstream assets."""
    for spec in context.assets_def.check_specs:
        if spec.key == AssetCheckKey(key, CHECK_NAME):
            return bool(spec.blocking)
    return False


def text(value: Any) -> str:
    # Spec metadata may come back normalised to MetadataValue objects.
    return str(value.value if isinstance(value, MetadataValue) else value)
