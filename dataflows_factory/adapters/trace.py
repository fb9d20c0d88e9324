"""Tracing a flow (``dff trace``): each step's schema and first rows, and where it failed.

:func:`trace_flow` runs one flow in this process exactly as the step executor would (the
same upstream datasets from the store, the same normalized steps, the same row tracking),
but dumps nothing: every processor of the linked chain hands its rows on through a recorder
that keeps the step's output schema and its first ``rows`` rows per resource. A step that
reads everything first (``sort_rows``, ``join``) is recorded when it hands its rows on. When
a step fails, the trace keeps the error (the one-line text ``dff run`` prints) and the row
the failing step was handed last, as it was when handed over::

    trace = trace_flow("examples/world/factory.py", "key_metrics", rows=3)
    for step in trace.steps:
        print(step.position, step.name, step.schema, step.rows)
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from dataflows import load

from .. import _dataflows
from ..errors import FactoryError, FlowExecutionError, shown_path
from ..factory import Factory
from ..store import Store, redact
from ._inputs import prepare, resolve
from ._package_check import check_package
from ._tracking import RowTracker, execution_error, step_name
from ._worker import error_payload

__all__ = ["StepTrace", "Trace", "trace_flow"]


@dataclass
class StepTrace:
    """One processor of a traced flow: its output schema and first rows, per resource."""

    position: int | None
    name: str
    schema: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    """Resource name -> its ``(field, type)`` pairs after this step."""
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Resource name -> the first rows this step handed on (copies)."""


@dataclass
class Trace:
    """What :func:`trace_flow` saw: the steps in order and, if one failed, where and on what."""

    flow: str
    partition: str | None = None
    steps: list[StepTrace] = field(default_factory=list)
    """The steps that ran, in order; when a step failed, the ones before it."""
    error: dict[str, Any] | None = None
    """The failure, as the one error payload of every engine (``text``: the line to show)."""
    failed: StepTrace | None = None
    """The step that failed (its schema and rows are empty), if the error names one."""
    failing_row: dict[str, Any] | None = None
    """The row the failing step was handed last, as handed over, when known."""

    @property
    def ok(self) -> bool:
        return self.error is None


def trace_flow(factory_ref: str | Factory, flow_name: str, *, rows: int = 5,
               store: str | os.PathLike[str] | Store | None = None,
               partition: str | None = None) -> Trace:
    """Run ``flow_name`` here, writing nothing, and record each step (see the module).

    Upstream datasets are read from ``store`` (the factory's by default); a missing one is
    a :class:`FlowExecutionError` saying to run that flow first. A partitioned flow traces
    ``partition``, by default its first one.
    """
    factory, spec, target = resolve(factory_ref, flow_name, store)
    if spec.partitions is not None and partition is None:
        partition = next(iter(spec.partitions.resolve(factory.root)), None)
    if not _dataflows.supported():  # stream() would run untracked: there would be nothing to show
        raise FlowExecutionError(flow_name, "tracing needs the dataflows, tabulator, tableschema "
                                 "and datapackage versions this package was verified with (a "
                                 "warning named the one that is not)", cause_type="TraceError")
    trace = Trace(flow_name, partition)
    recorder = _Recorder(rows)
    tracker = RowTracker()

    def install(last: Any) -> None:
        tracker.install(last)  # first: the recorder then sees the rows the tracker counts
        recorder.install(last)

    with contextlib.ExitStack() as stack:
        prepared = prepare(factory, spec, target, stack, partition)
        prepared.fetch_inputs()
        try:
            _dataflows.stream(prepared.flow, install, check=lambda descriptor: check_package(
                flow_name, descriptor, tracker.processors))
        except Exception as cause:
            error = cause if isinstance(cause, FactoryError) \
                else execution_error(flow_name, cause, tracker=tracker)
            trace.error = error_payload(flow_name, error, partition)
    recorder.finish(trace)
    return trace


class _Recorder:
    """Wraps the output of every processor of a linked chain; keeps what :class:`StepTrace`
    holds, and the last row each processor handed on per resource (a failing step's input)."""

    def __init__(self, rows: int) -> None:
        self.keep = max(0, rows)
        self.processors: list[Any] = []
        self.first: dict[int, dict[str, list[dict[str, Any]]]] = {}
        self.last: dict[int, dict[str, Any]] = {}

    def install(self, last: Any) -> None:
        self.processors = _dataflows.processors_of(last)
        for processor in self.processors:
            self.first[id(processor)], self.last[id(processor)] = {}, {}
            _dataflows.watch_output(processor, self._watch(id(processor)))

    def _watch(self, key: int) -> Any:
        def watch(resource: str, rows: Iterable[Any]) -> Iterator[Any]:
            kept = self.first[key].setdefault(resource, [])
            last = self.last[key]
            for row in rows:
                # A copy as handed on: later steps (and a failing one) change rows in place.
                copy = dict(row) if isinstance(row, Mapping) else row
                last[resource] = copy
                if len(kept) < self.keep:
                    kept.append(copy)
                yield row

        return watch

    def finish(self, trace: Trace) -> None:
        failing = (trace.error or {}).get("position")
        for before, processor in zip([None, *self.processors], self.processors, strict=False):
            step = StepTrace(processor.position, _shown_name(processor))
            if trace.error is not None and failing is not None and processor.position == failing:
                trace.failed = step
                resource = trace.error.get("resource")
                if before is not None and resource is not None:
                    trace.failing_row = self.last.get(id(before), {}).get(resource)
                return
            if processor.datapackage is None:  # never set up: an earlier package failed
                return
            step.schema = _schema(processor.datapackage.descriptor)
            step.rows = self.first.get(id(processor), {})
            trace.steps.append(step)


def _shown_name(processor: Any) -> str:
    """The step's name as errors give it; a file ``load`` also says what it reads."""
    name = step_name(processor) or type(processor).__name__
    source = _dataflows.file_source(processor) if isinstance(processor, load) else None
    # A URL may carry credentials (https://user:token@host/file.csv).
    return f"{name} {redact(shown_path(source))!r}" if source else name


def _schema(descriptor: Mapping[str, Any]) -> dict[str, list[tuple[str, str]]]:
    return {str(resource.get("name")): [(str(f.get("name")), str(f.get("type", "any")))
                                        for f in resource.get("schema", {}).get("fields", ())]
            for resource in descriptor.get("resources", ())}
