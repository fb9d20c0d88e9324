"""Where in a flow an error happened: which processor, which resource, which row.

dataflows reports none of this for errors raised while rows stream (it wraps errors in
``ProcessorError`` only while packages are set up), so the step executor installs a
:class:`RowTracker` on the processor chain before streaming and asks it afterwards.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator
from operator import itemgetter
from typing import Any

from dataflows import ValidationError

from .. import _dataflows
from ..errors import FlowExecutionError
from ..store import redact

__all__ = ["RowTracker", "execution_error"]


class RowTracker:
    """Counts, per function step and resource, the rows that entered the step.

    When a row function raises, the count is the (1-based) number of the row it failed on;
    for a ``rows`` function, of the last row it had been handed. On a dataflows version
    outside :data:`~._dataflows.SUPPORTED` it counts nothing: errors are still raised,
    naming less of their place.
    """

    def __init__(self, ignore: tuple[str, ...] = ()) -> None:
        self.processors: list[Any] = []
        # id(processor) -> (resource, the count that numbers the rows handed to it)
        self.counters: dict[int, tuple[str, itertools.count[int]]] = {}
        self._ignore = ignore  # qualname prefixes of the executor's own function steps
        self._by_file: dict[str, Any] = {}

    def row_of(self, key: int) -> tuple[str | None, int | None]:
        """The resource and the 1-based number of the last row handed to processor ``key``."""
        if key not in self.counters:
            return None, None
        name, numbers = self.counters[key]
        # count(1) numbered each row as it was handed on: the number it gives next, minus
        # one, is how many were. Put a count at the same place back, so a second read agrees.
        taken = next(numbers) - 1
        self.counters[key] = (name, itertools.count(taken + 1))
        return (name, taken) if taken > 0 else (None, None)

    def install(self, last: Any) -> None:
        """Walk the chain back from its last processor and count the function steps' input."""
        if not _dataflows.supported():
            return
        self.processors = _dataflows.processors_of(last)
        for processor in self.processors:
            source = _dataflows.library_source_file(processor)
            if source is not None:
                self._by_file.setdefault(source, processor)
        for processor in self.processors:
            if _dataflows.is_function_step(processor) and not self._ignored(processor):
                _dataflows.feed_input_rows(processor, self._counter(id(processor)))

    def _ignored(self, processor: Any) -> bool:
        qualname = str(getattr(_dataflows.step_function(processor), "__qualname__", ""))
        return bool(self._ignore) and qualname.startswith(self._ignore)

    def _counter(self, key: int) -> Any:
        def counted(resource: str, rows: Iterable[Any]) -> Iterator[Any]:
            # Counting in C (no Python frame per row): zip takes the next number, then the
            # next row; row_of reads how far the count got.
            numbers = itertools.count(1)
            self.counters[key] = (resource, numbers)
            return map(itemgetter(1), zip(numbers, rows, strict=False))

        return counted

    def locate(self, error: BaseException) -> tuple[Any, str | None, int | None]:
        """``(processor, resource, row)`` for an error raised while streaming (or Nones)."""
        found: Any = None
        validated: Any = None
        for frame in _dataflows.error_frames(error):
            # Library processors written as package functions (add_computed_field) stream
            # rows in plain generators: match the frame's file to the function's.
            candidate = frame.processor or self._by_file.get(frame.file)
            if candidate is not None and not self._ignored(candidate):
                found, validated = candidate, None  # only the innermost one counts
            if frame.validated is not None:
                validated = frame.validated
        if validated is not None:
            # A cast failed: the processor that owns the validated resource asked for it
            # (set_type, load, validate), whatever frames its generator left behind.
            owner = self._owner(validated)
            if owner is not None:
                return owner, None, None
        if found is None:
            return None, None, None
        resource, row = self.row_of(id(found))
        return found, resource, row

    def _owner(self, descriptor: Any) -> Any:
        for processor in self.processors:
            package = getattr(processor, "datapackage", None)
            for resource in getattr(package, "resources", None) or ():
                if resource.descriptor is descriptor:
                    return processor
        return None


def execution_error(flow: str, error: BaseException, building: bool = False,
                    tracker: RowTracker | None = None) -> FlowExecutionError:
    """``error`` as a :class:`FlowExecutionError` naming the processor and, where known, the
    resource, row and field; ``building`` means the flow function itself raised."""
    processor: str | None = "flow function" if building else None
    position: int | None = None
    resource: str | None = None
    row: int | None = None
    if processor is None and tracker is not None:
        found, resource, row = _locate(tracker, error)
        if found is not None:
            processor = _dataflows.processor_name(found, type(found).__name__)
            position = getattr(found, "position", None)
    root: BaseException = error
    while True:
        wrapped = _dataflows.processor_error(root)
        if wrapped is not None:
            if processor is None:
                processor, position = _dataflows.processor_name(wrapped[0], wrapped[1]), wrapped[2]
            root = wrapped[3]
        elif isinstance(root, ValidationError):
            errors = getattr(root.cast_error, "errors", None) or [root.cast_error]
            match = re.search(r'[Ff]ield "([^"]+)"', " ".join(map(str, errors)))
            return FlowExecutionError(
                flow, redact("; ".join(str(e) for e in errors)), processor=processor,
                position=position, resource=root.resource_name, row=root.index + 1,
                field=match.group(1) if match else None, cause_type="ValidationError")
        elif root.__cause__ is not None and type(root).__name__ == "SourceLoadError":
            root = root.__cause__
        else:
            break
    # A row function reading a missing key: that key is the field to name.
    field_name = str(root.args[0]) if isinstance(root, KeyError) and row and root.args else None
    return FlowExecutionError(flow, redact(str(root) or repr(root)), processor=processor,
                              position=position, resource=resource, row=row, field=field_name,
                              cause_type=type(root).__name__)


def _locate(tracker: RowTracker, error: BaseException) -> tuple[Any, str | None, int | None]:
    # Locating is a courtesy: whatever goes wrong in it, the error itself is what to report.
    try:
        return tracker.locate(error)
    except Exception:
        return None, None, None
