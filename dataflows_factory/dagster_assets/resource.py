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

from .._secrets import RedactingFilter, redacting_logs
from ..adapters.plan import Schedule, StepPlan
from ..adapters.pool import as_error, error_payload
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
from ._metadata import check_result, materialization_metadata, merge_metadata
from ._partitions import dataset_of, partition_value
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

        For a partitioned flow, the run's partition is run into its own part; then, when
        every part exists, the parts are merged into the flow's dataset, which is what
        downstream flows read. A flow reading a partitioned flow first makes sure that merge
        is current (skipped when it is; an error naming the missing partition otherwise).
        """
        factory, targets = _selected(context)
        store = factory.store(self.store)
        plan = factory.plan(store=store)
        # What a failure holds back is the plan's answer; the op only walks its targets in
        # plan order (a flow's unit id is its name; a partitioned flow's, its merge's).
        schedule = Schedule(plan.units())
        failures: list[tuple[FlowExecutionError, str | None]] = []

        def hold_back(flow: str) -> None:
            if flow not in schedule.failed and flow not in schedule.blocked:
                schedule.finish(flow, ok=False)

        for flow, key in targets:
            if flow in schedule.blocked:
                context.log.warning(f"flow {flow!r} not run: upstream flow {schedule.blocked[flow]!r} "
                                    "failed (or failed its blocking check)")
                continue
            step = plan.step(flow)
            partition = _partition(context, step)
            try:
                with _forward_logs(context):
                    for upstream in step.upstream:
                        if plan.step(upstream).partitioned:
                            self._run(context, factory, upstream, store)
                    result = self._run(context, factory, flow, store, partition)
            except FlowExecutionError as error:
                context.log.error(_described(error, partition))
                failures.append((error, partition))
                hold_back(flow)
                continue
            checked = []
            held = False
            if AssetCheckKey(key, CHECK_NAME) in context.selected_asset_check_keys:
                checked.append(check_result(store, result, key))
                held = not checked[0].passed and _blocking(context, key)
                if held:
                    hold_back(flow)
            extra: dict[str, Any] = {}
            merge_error = None
            if partition is not None and not held:  # a broken part stays out of the merge
                try:
                    with _forward_logs(context):
                        extra = self._merge(context, factory, step, store)
                except FlowExecutionError as error:
                    merge_error = error
            yield self._materialization(result, store, key, checked, extra)
            if merge_error is not None:
                context.log.error(str(merge_error))
                failures.append((merge_error, None))
                hold_back(flow)
        if failures:
            raise _failure(failures)

    def _run(self, context: Any, factory: Factory, flow: str, store: Store,
             partition: str | None = None) -> StepResult:
        # The step runs in Dagster's process: its records reach Dagster's handlers, and its
        # error would reach the event log with its chained causes. Both leave redacted: the
        # error as the step's error payload (traceback as a note, no cause).
        try:
            with redacting_logs():
                return run_step(factory, flow, store=store, force=self.force,
                                run_id=context.run_id, attempt=context.retry_number + 1,
                                partition=partition)
        except FlowExecutionError as error:
            raise as_error(error_payload(flow, error, partition)) from None

    def _merge(self, context: Any, factory: Factory, step: StepPlan, store: Store) -> dict[str, Any]:
        # Only once every part exists: until then the merge would fail, and the partitions
        # still to come will each try again. Two partitions finishing together are safe:
        # the merge holds the store's lock, and the later one finds it unchanged.
        missing = [value for value in step.partitions
                   if store.read_descriptor(factory.name, dataset_of(step.name, value)) is None]
        merged = None if missing else self._run(context, factory, step.name, store)
        if merged is None:
            context.log.info(f"flow {step.name!r}: merge waits for {len(missing)} partition(s)")
        return merge_metadata(merged, missing, store)

    def _materialization(self, result: StepResult, store: Store, key: AssetKey,
                         checked: list[Any], extra: dict[str, Any]) -> MaterializeResult[Any]:
        # The content hash is the data version: a flow skipped as unchanged, or re-run to
        # the same bytes, reports the same version, so Dagster does not mark its
        # downstream assets stale. For a partition, it is the part's content hash.
        return MaterializeResult(
            asset_key=key,
            metadata={**materialization_metadata(result, store, self.preview_rows), **extra},
            data_version=DataVersion(result.content_hash) if result.content_hash else None,
            check_results=checked,
        )


def _partition(context: Any, step: StepPlan) -> str | None:
    """The partition value this run materializes for ``step`` (None when unpartitioned)."""
    if not step.partitioned:
        return None
    if not context.has_partition_key:
        raise Failure(description=f"flow {step.name!r} is partitioned: materialize one partition "
                                  "(`--partition KEY`) or launch a backfill of its partitions",
                      allow_retries=False)
    return partition_value(step, context.partition_key)


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


def _described(error: FlowExecutionError, partition: str | None) -> str:
    # Newer cores name the partition in the error itself; older ones did not, so it is
    # named in front only when the error does not already carry it.
    if partition is None or getattr(error, "partition", None) is not None:
        return str(error)
    return f"partition {partition!r}: {error}"


def _failure(failures: list[tuple[FlowExecutionError, str | None]]) -> Failure:
    first, partition = failures[0]
    more = f" (and {len(failures) - 1} more failed flow(s): {[f.flow for f, _ in failures[1:]]})" \
        if len(failures) > 1 else ""
    metadata = {name: MetadataValue.text(str(value))
                for name, value in first.to_dict().items() if value is not None}
    if partition is not None:
        metadata["partition"] = MetadataValue.text(partition)
    failure = Failure(description=_described(first, partition) + more, metadata=metadata,
                      allow_retries=True)
    failure.__cause__ = first
    return failure


class _ToDagsterLog(logging.Handler):
    def __init__(self, context: Any) -> None:
        super().__init__(logging.INFO)
        self.addFilter(RedactingFilter())  # the event log is an output like any other
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
