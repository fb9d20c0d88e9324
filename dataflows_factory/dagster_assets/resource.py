"""The Dagster resource that runs flows: where the store is, and one ``run(context)``.

Rows never pass through an IO manager: each flow publishes its dataset to the store with
:func:`~dataflows_factory.run_step`, and the asset records the dataset's URI, row counts,
schema and content hash as materialization metadata.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .._secrets import redacting_logs
from ..adapters.plan import Plan, Schedule, StepPlan
from ..adapters.results import FAILED, SKIPPED, SUCCEEDED, StepResult
from ..errors import FlowExecutionError
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
from ._context import blocking, selected
from ._lineage import run_parent
from ._logs import forward_logs
from ._metadata import check_result, materialization_metadata, merge_metadata
from ._partitions import dataset_of, partition_value
from .builder import CHECK_NAME

if TYPE_CHECKING:  # the run side imports the factory and dataflows lazily, when a flow runs
    from ..factory import Factory

__all__ = ["FactoryResource"]


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
        factory, compiled, targets = selected(context)
        store = self._store(factory, compiled)
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
                with forward_logs(context):
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
                held = not checked[0].passed and blocking(context, key)
                if held:
                    hold_back(flow)
            extra: dict[str, Any] = {}
            merge_error = None
            if partition is not None and not held:  # a broken part stays out of the merge
                try:
                    with forward_logs(context):
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

    def run_group(self, context: Any, group: str | None = None) -> Iterator[Any]:
        """Run the context's selected flows as one group task; yield one result per asset.

        The flows run as ``dff run --select`` runs them
        (:func:`~dataflows_factory.adapters.group_run.run_group`): in dependency order,
        independent ones in parallel in the worker pool, each skipped when unchanged, each
        retried as its ``retries=`` says. Every flow that succeeded or was skipped is then
        reported with the same metadata and ``dataset_valid`` check as :meth:`run`; when a
        flow failed, the op raises one :class:`~dagster.Failure` naming it inside the group,
        after the others were reported.
        """
        from ..adapters.group_run import GroupError, run_group

        factory, compiled, targets = selected(context)
        store = self._store(factory, compiled)
        name = group or context.op_def.name
        with redacting_logs():
            report = run_group(factory, [flow for flow, _ in targets], group=name, store=store,
                               force=self.force, run_id=context.run_id, plan=compiled,
                               lineage_parent=run_parent(context))
        for flow, key in targets:
            result = report.results.get(flow)
            if result is None or result.status not in (SUCCEEDED, SKIPPED):
                continue
            checked = [check_result(store, result, key)] \
                if AssetCheckKey(key, CHECK_NAME) in context.selected_asset_check_keys else []
            yield self._materialization(result, store, key, checked, {})
        if not report.ok:
            failed = [r.error for r in report.results.values() if r.status == FAILED and r.error]
            metadata = {field: MetadataValue.text(str(value)) for field, value in (failed or [{}])[0].items()
                        if value is not None and field not in ("traceback", "text")}
            error = GroupError(name, report)
            context.log.error(str(error))
            raise Failure(description=str(error), metadata=metadata)

    def _store(self, factory: Factory, compiled: Plan | None) -> Store:
        # A compiled plan names the store it was compiled for (`dff compile --store`); the
        # resource's own setting still wins, as it does over the factory's.
        return factory.store(self.store if self.store or compiled is None else compiled.store)

    def _run(self, context: Any, factory: Factory, flow: str, store: Store,
             partition: str | None = None) -> StepResult:
        # The step runs in Dagster's process: its records reach Dagster's handlers, and its
        # error would reach the event log with its chained causes. Both leave redacted: the
        # error as the step's error payload (traceback as a note, no cause).
        from ..adapters.pool import as_error, error_payload
        from ..adapters.step import run_step

        try:
            with redacting_logs():
                return run_step(factory, flow, store=store, force=self.force,
                                run_id=context.run_id, attempt=context.retry_number + 1,
                                partition=partition, lineage_parent=run_parent(context))
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
