"""Execute ONE step. The local runner and every orchestrator run flows only through here.

``run_step`` rebuilds the factory from an import reference (so any worker process can call
it), injects upstream datasets, streams the flow row by row into a staging folder, and
publishes the dataset atomically. It returns a small JSON-serialisable :class:`StepResult`:
orchestrators pass that around, never rows.

Its parts, one job each: :mod:`._inputs` (what the step reads, its fingerprint),
:mod:`._skip` (may it keep its dataset), :mod:`._measure` (rows, bytes, hashes, the
descriptor), :mod:`.results` (what it returns), :mod:`._parts` (a partitioned flow's merge).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from typing import TYPE_CHECKING, Any

from dataflows import Flow

from .._compat import check_tabulator
from .._dataflows import stream
from .._row_shape import counts as row_shape_counts
from ..errors import FactoryError, FlowExecutionError
from ..factory import Factory
from ..flow import FlowSpec
from ..lineage import ParentRun, step_lineage
from ..partitions import part_dataset
from ..processors._adopt import path_dumper
from ..store import Store, redact
from ._inputs import iter_steps, prepare, resolve
from ._interrupt import publishing
from ._measure import Progress, RowCounter, finish_descriptor
from ._package_check import check_package
from ._parts import merge_parts, parts_fingerprint
from ._skip import reusable
from ._tracking import RowTracker, execution_error
from .results import FAILED, SKIPPED, SUCCEEDED, StepResult, new_run_id, now, result_of
from .sample import cap_sources, sample_fingerprint

if TYPE_CHECKING:  # importing it at run time would import openlineage
    from ..lineage import StepLineage

__all__ = ["FAILED", "SKIPPED", "SUCCEEDED", "Progress", "StepResult", "dataset_name", "new_run_id",
           "run_step", "step_fingerprint"]

log = logging.getLogger("dataflows_factory.step")


def run_step(
    factory_ref: str | Factory,
    flow_name: str,
    *,
    store: str | os.PathLike[str] | Store | None = None,
    force: bool = False,
    run_id: str | None = None,
    attempt: int = 1,
    progress: Progress | None = None,
    partition: str | None = None,
    limit: int | None = None,
    lineage_parent: ParentRun | None = None,
) -> StepResult:
    """Run one flow of a factory and publish its dataset; skip it if nothing changed.

    Raises :class:`FlowExecutionError` (naming the flow, the processor and, for data
    errors, the resource, row and field) when the flow fails; the previous dataset is then
    left exactly as it was.

    For a partitioned flow, ``partition`` runs one partition into its own part; without
    it, the parts are united into the flow's dataset (every part must exist).

    ``limit`` makes a sample: each source hands on at most ``limit`` rows per resource
    (:mod:`.sample`; give a scratch ``store``, ``runner.run(limit=)`` does).

    With OpenLineage configured (:mod:`dataflows_factory.lineage`), the step emits START and
    COMPLETE or FAIL; ``lineage_parent`` is the run it belongs to (the parent facet).
    """
    check_tabulator()
    factory, spec, target = resolve(factory_ref, flow_name, store)
    run_id = run_id or new_run_id()
    # A sample (limit) writes to a scratch store: nothing a lineage catalog should record.
    lineage = None if limit is not None else step_lineage(
        factory, spec.name, store=target, run_id=run_id, attempt=attempt, partition=partition,
        parent=lineage_parent)
    try:
        result = _run_unit(factory, spec, target, force=force, run_id=run_id, attempt=attempt,
                           progress=progress, partition=partition, limit=limit, lineage=lineage)
    except BaseException as error:
        if lineage is not None:
            lineage.fail(error)
        raise
    if lineage is not None:
        lineage.complete(result)
    return result


def _run_unit(
    factory: Factory, spec: FlowSpec, target: Store, *, force: bool, run_id: str, attempt: int,
    progress: Progress | None, partition: str | None, limit: int | None,
    lineage: StepLineage | None,
) -> StepResult:
    if spec.partitions is not None and partition is None:
        if lineage is not None:
            lineage.start()
        return merge_parts(factory, spec, target, force=force, run_id=run_id, attempt=attempt)
    try:
        return _run_one(factory, spec, target, force=force, run_id=run_id, attempt=attempt,
                        progress=progress, partition=partition, limit=limit, lineage=lineage)
    except FlowExecutionError as error:
        if partition is None or error.partition is not None:
            raise
        raise error.in_partition(partition) from error


def _run_one(
    factory: Factory, spec: FlowSpec, target: Store, *, force: bool, run_id: str, attempt: int,
    progress: Progress | None, partition: str | None, limit: int | None = None,
    lineage: StepLineage | None = None,
) -> StepResult:
    flow_name = spec.name
    dataset = dataset_name(factory, spec, partition)
    started, clock = now(), time.perf_counter()
    uri = target.dataset_url(factory.name, dataset)

    with contextlib.ExitStack() as stack:
        # Concurrent runs on one store: one writer per flow, no swap under a reader.
        stack.enter_context(target.lock(factory.name, dataset, spec.upstream))
        prepared = prepare(factory, spec, target, stack, partition)
        if lineage is not None:  # the built flow names the files and URLs it loads
            lineage.start(prepared.flow)
        if limit is not None:  # a sample is not the dataset: a full run never keeps it
            prepared.fingerprint = sample_fingerprint(prepared.fingerprint, limit)
        previous = reusable(target, factory.name, dataset, prepared.fingerprint, force=force)
        if previous is not None:
            log.info("flow %r unchanged (fingerprint %s): skipped", dataset,
                     prepared.fingerprint[:12])
            return result_of(factory.name, flow_name, SKIPPED, uri, previous, prepared.fingerprint,
                             started, clock, run_id, attempt, partition)

        prepared.fetch_inputs()
        with target.staging(factory.name, dataset) as staged:
            counter = RowCounter(flow_name, progress)
            _stream(flow_name, Flow(prepared.flow, counter.step, path_dumper(staged)), limit)
            descriptor = finish_descriptor(
                staged, factory.name, flow_name, prepared.fingerprint, run_id, counter.counts,
                extra={**_row_repairs(prepared.flow),
                       **({"partition": partition} if partition is not None else {})})
            with publishing(run_id):  # none after an interruption; a started one completes
                target.publish(factory.name, dataset, staged)
    result = result_of(factory.name, flow_name, SUCCEEDED, uri, descriptor, prepared.fingerprint,
                       started, clock, run_id, attempt, partition)
    log.info("flow %r done: %d rows in %.2fs (%.0f rows/s) -> %s", dataset, result.total_rows,
             result.duration, result.total_rows / max(result.duration, 1e-9), redact(uri))
    return result


def step_fingerprint(
    factory_ref: str | Factory,
    flow_name: str,
    *,
    store: str | os.PathLike[str] | Store | None = None,
    partition: str | None = None,
) -> str:
    """The fingerprint ``run_step`` would compute now: code, params, inputs' hashes, files.

    Reads only descriptors and local input files; for orchestrator cache keys.
    """
    factory, spec, target = resolve(factory_ref, flow_name, store)
    if spec.partitions is not None and partition is None:
        return parts_fingerprint(factory, spec, target)[0]
    dataset_name(factory, spec, partition)  # validates the partition
    with contextlib.ExitStack() as stack:
        return prepare(factory, spec, target, stack, partition).fingerprint


def dataset_name(factory: Factory, spec: FlowSpec, partition: str | None) -> str:
    """Where a run writes in the store: the flow's name, or ``flow@key`` for one partition."""
    if partition is None:
        return spec.name
    if spec.partitions is None:
        raise FlowExecutionError(spec.name, f"flow is not partitioned; got partition {partition!r}")
    if partition not in spec.partitions.resolve(factory.root):
        raise FlowExecutionError(spec.name, f"unknown partition {partition!r}")
    return part_dataset(spec.name, partition)


def _row_repairs(flow: Flow) -> dict[str, dict[str, int]]:
    """The rows the flow's loads padded (short) or cut (extra cells dropped), per resource."""
    padded, truncated = row_shape_counts(iter_steps(flow.chain))
    return {key: value for key, value in (("padded_rows", padded), ("truncated_rows", truncated))
            if value}


def _stream(flow_name: str, flow: Flow, limit: int | None = None) -> None:
    # Not Flow.process(): dataflows logs and swallows CastError there; we raise everything.
    # The tracker counts the rows entering each function step, so a failing row function
    # is reported with its resource and row number (our own counter step is not blamed).
    tracker = RowTracker(ignore=("RowCounter.",))
    install = tracker.install
    if limit is not None:  # a sample run: each source hands on at most `limit` rows
        cap = cap_sources(flow_name, limit)

        def install(last: Any) -> None:
            cap(last)
            tracker.install(last)

    try:
        stream(flow, install,
               check=lambda descriptor: check_package(flow_name, descriptor, tracker.processors))
    except FactoryError:
        raise
    except Exception as cause:
        raise execution_error(flow_name, cause, tracker=tracker) from cause
