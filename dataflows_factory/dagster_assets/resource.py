"""The Dagster resource that runs flows: where the store is, and one ``run(context)``.

Rows never pass through an IO manager: each flow publishes its dataset to the store with
:func:`~dataflows_factory.run_step`, and the asset records the dataset's URI, row counts,
schema and content hash as materialization metadata.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from ..adapters.step import StepResult, run_step
from ..errors import FlowExecutionError
from ..factory import Factory
from ..store import Store
from ._compat import (
    AssetCheckKey,
    AssetKey,
    ConfigurableResource,
    DataVersion,
    Failure,
    MaterializeResult,
    MetadataValue,
    PydanticField,
)
from ._metadata import check_result, materialization_metadata
from .builder import CHECK_NAME, FACTORY_KEY, FLOW_KEY, registered_factory

__all__ = ["FactoryResource"]

_STEP_LOGGER = "dataflows_factory.step"


class FactoryResource(ConfigurableResource):  # type: ignore[misc,type-arg]
    """Runs the flows behind factory assets; configure it per environment.

    >>> from dagster import Definitions, EnvVar
    >>> defs = Definitions(
    ...     assets=build_assets(factory),
    ...     resources={"dff": FactoryResource(store=EnvVar("DFF_STORE"))},
    ... )

    In a ``@factory_assets`` function, ``yield from dff.run(context)`` runs the selected flows.
    """

    store: str | None = PydanticField(
        default=None,
        description="Folder or fsspec URL (s3://bucket/prefix) of the datasets; default: the "
                    "factory's own store ($DFF_STORE, Factory(store=...), <factory folder>/data).",
    )
    force: bool = PydanticField(
        default=False, description="Run flows even when their inputs and code are unchanged.")
    preview_rows: int = PydanticField(
        default=5, description="Rows shown as a preview table per resource (local stores only; 0: none).")

    def run(self, context: Any) -> Iterator[MaterializeResult[Any]]:
        """Run the context's selected flows in dependency order; yield one result per asset.

        A failed flow is logged, its downstream flows in this op are not run, independent
        flows still are, and the op then raises a :class:`~dagster.Failure` naming the flow
        and processor (so Dagster's ``RetryPolicy`` applies). A failed blocking check also
        holds back the flows downstream of it.
        """
        factory, targets = _selected(context)
        store = factory.store(self.store)
        plan = factory.plan(store=store)
        checks = context.selected_asset_check_keys
        blocked: dict[str, str] = {}
        failures: list[FlowExecutionError] = []
        for flow, key in targets:
            if flow in blocked:
                context.log.warning(f"flow {flow!r} not run: upstream flow {blocked[flow]!r} failed "
                                    "(or failed its blocking check)")
                continue
            try:
                with _forward_logs(context):
                    result = run_step(factory, flow, store=store, force=self.force, run_id=context.run_id,
                                      attempt=context.retry_number + 1)
            except FlowExecutionError as error:
                context.log.error(str(error))
                failures.append(error)
                blocked.update({name: flow for name in plan.downstream(flow) if name not in blocked})
                continue
            checked = []
            if AssetCheckKey(key, CHECK_NAME) in checks:
                checked.append(check_result(store, result, key))
                if not checked[0].passed and _blocking(context, key):
                    blocked.update({name: flow for name in plan.downstream(flow) if name not in blocked})
            yield self._materialization(result, store, key, checked)
        if failures:
            raise _failure(failures)

    def _materialization(self, result: StepResult, store: Store, key: AssetKey,
                         checked: list[Any]) -> MaterializeResult[Any]:
        # The content hash is the data version: a flow skipped as unchanged, or re-run to
        # the same bytes, reports the same version, so Dagster does not mark its
        # downstream assets stale.
        return MaterializeResult(
            asset_key=key,
            metadata=materialization_metadata(result, store, self.preview_rows),
            data_version=DataVersion(result.content_hash) if result.content_hash else None,
            check_results=checked,
        )


def _selected(context: Any) -> tuple[Factory, list[tuple[str, AssetKey]]]:
    """The factory behind the op and its selected flows, in the plan's (topological) order."""
    found: dict[str, AssetKey] = {}
    references = set()
    for key, spec in context.assets_def.specs_by_key.items():
        if key in context.selected_asset_keys:
            found[_text(spec.metadata[FLOW_KEY])] = key
            references.add(_text(spec.metadata[FACTORY_KEY]))
    if len(references) != 1:
        raise Failure(f"FactoryResource.run: the selected assets come from {len(references)} "
                      "factories; build one op per factory (factory_assets/build_assets do)")
    factory = registered_factory(references.pop())
    order = factory.plan().names
    return factory, sorted(found.items(), key=lambda item: order.index(item[0]))


def _blocking(context: Any, key: AssetKey) -> bool:
    for spec in context.assets_def.check_specs:
        if spec.key == AssetCheckKey(key, CHECK_NAME):
            return bool(spec.blocking)
    return False


def _text(value: Any) -> str:
    # Spec metadata may come back normalised to MetadataValue objects.
    return str(value.value if isinstance(value, MetadataValue) else value)


def _failure(failures: list[FlowExecutionError]) -> Failure:
    first = failures[0]
    more = f" (and {len(failures) - 1} more failed flow(s): {[f.flow for f in failures[1:]]})" \
        if len(failures) > 1 else ""
    metadata = {name: MetadataValue.text(str(value))
                for name, value in first.to_dict().items() if value is not None}
    failure = Failure(description=str(first) + more, metadata=metadata, allow_retries=True)
    failure.__cause__ = first
    return failure


class _ToDagsterLog(logging.Handler):
    def __init__(self, context: Any) -> None:
        super().__init__(logging.INFO)
        self.context = context

    def emit(self, record: logging.LogRecord) -> None:
        self.context.log.info(record.getMessage())


@contextlib.contextmanager
def _forward_logs(context: Any) -> Iterator[None]:
    """Show run_step's progress lines (rows, rows/s) in Dagster's event log."""
    logger = logging.getLogger(_STEP_LOGGER)
    handler = _ToDagsterLog(context)
    level = logger.level
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
