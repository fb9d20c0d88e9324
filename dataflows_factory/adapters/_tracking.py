"""Where in a flow an error happened: which processor, which resource, which row.

dataflows reports none of this for errors raised while rows stream (it wraps errors in
``ProcessorError`` only while packages are set up), so the step executor installs a
:class:`RowTracker` on the processor chain before streaming and asks it afterwards.
"""

from __future__ import annotations

import itertools
import os
import re
from operator import itemgetter
from typing import Any

from dataflows.base.datastream_processor import DataStreamProcessor
from dataflows.base.exceptions import ProcessorError
from dataflows.base.resource_wrapper import ResourceWrapper
from dataflows.base.schema_validator import ValidationError

from ..errors import FlowExecutionError
from ..store import redact

__all__ = ["RowTracker", "execution_error"]

# dataflows' wrappers around plain functions: the steps whose input rows we count.
_FUNCTION_STEPS = ("row_processor", "rows_processor")


class RowTracker:
    """Counts, per function step and resource, the rows that entered the step.

    When a row function raises, the count is the (1-based) number of the row it failed on;
    for a ``rows`` function, of the last row it had been handed.
    """

    def __init__(self, ignore: tuple[str, ...] = ()) -> None:
        self.processors: list[DataStreamProcessor] = []
        # id(processor) -> (resource, the count that numbers the rows handed to it)
        self.counters: dict[int, tuple[str, itertools.count[int]]] = {}
        self._ignore = ignore  # qualname prefixes of the executor's own function steps
        self._by_file: dict[str, DataStreamProcessor] = {}

    def row_of(self, key: int) -> tuple[str | None, int | None]:
        """The resource and the 1-based number of the last row handed to processor ``key``."""
        if key not in self.counters:
            return None, None
        name, numbers = self.counters[key]
        # count(n) is about to give n: n - 1 numbers were taken, one per row handed on.
        taken = int(repr(numbers)[len("count("):-1]) - 1
        return (name, taken) if taken > 0 else (None, None)

    def install(self, last: Any) -> None:
        """Walk the chain back from its last processor and count the function steps' input."""
        chain: list[DataStreamProcessor] = []
        current = last
        while isinstance(current, DataStreamProcessor):
            chain.append(current)
            current = current.source
        self.processors = chain[::-1]
        for processor in self.processors:
            code = getattr(getattr(processor, "func", None), "__code__", None)
            module = str(getattr(getattr(processor, "func", None), "__module__", ""))
            if code is not None and module.startswith(("dataflows.", "dataflows_factory.")):
                self._by_file.setdefault(code.co_filename, processor)
        for processor in self.processors:
            if type(processor).__name__ in _FUNCTION_STEPS and not self._ignored(processor):
                self._wrap(processor)

    def _ignored(self, processor: Any) -> bool:
        qualname = str(getattr(getattr(processor, "func", None), "__qualname__", ""))
        return bool(self._ignore) and qualname.startswith(self._ignore)

    def _wrap(self, processor: Any) -> None:
        original = processor.process_resource
        key = id(processor)

        def counted(resource: ResourceWrapper, original: Any = original) -> Any:
            # Counting in C (no Python frame per row): zip takes the next number, then the
            # next row; the count's repr tells how many rows were handed on.
            numbers = itertools.count(1)
            self.counters[key] = (resource.res.name, numbers)
            rows = map(itemgetter(1), zip(numbers, resource, strict=False))
            return original(ResourceWrapper(resource.res, rows))

        # An instance attribute wins over the class's method; dataflows looks it up per resource.
        processor.process_resource = counted

    def locate(self, error: BaseException) -> tuple[Any, str | None, int | None]:
        """``(processor, resource, row)`` for an error raised while streaming (or Nones)."""
        found: Any = None
        validated: Any = None
        traceback = error.__traceback__
        while traceback is not None:
            frame = traceback.tb_frame
            candidate = frame.f_locals.get("self")
            if not isinstance(candidate, DataStreamProcessor):
                # Library processors written as package functions (add_computed_field)
                # stream rows in plain generators: match the frame's file to the function's.
                candidate = self._by_file.get(frame.f_code.co_filename)
            if candidate is not None and not self._ignored(candidate):
                found, validated = candidate, None  # only the innermost one counts
            if frame.f_code.co_name == "schema_validator":
                validated = frame.f_locals.get("resource")
            traceback = traceback.tb_next
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


_PROCESSOR_NAMES = {"PathDumper": "dump_to_path", "FastPathDumper": "dump_to_path",
                    "SQLDumper": "dump_to_sql",
                    "rows_processor": "rows function",
                    "row_processor": "row function", "datapackage_processor": "package function"}


def execution_error(flow: str, error: BaseException, building: bool = False,
                    tracker: RowTracker | None = None) -> FlowExecutionError:
    """``error`` as a :class:`FlowExecutionError` naming the processor and, where known, the
    resource, row and field; ``building`` means the flow function itself raised."""
    processor: str | None = "flow function" if building else None
    position: int | None = None
    resource: str | None = None
    row: int | None = None
    if processor is None and tracker is not None:
        found, resource, row = tracker.locate(error)
        if found is not None:
            processor, position = _processor_name(found, type(found).__name__), found.position
    root: BaseException = error
    while True:
        if isinstance(root, ProcessorError):
            if processor is None:
                processor = _processor_name(root.processor_object, root.processor_name)
                position = root.processor_position
            root = root.cause
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


def _processor_name(processor: Any, class_name: str) -> str:
    # Function steps run inside dataflows' generic wrappers: name the function instead,
    # and for processors built as closures (``join`` returns ``join.<locals>.func``) the
    # factory that built it.
    function = getattr(processor, "func", None)
    if function is None or not hasattr(function, "__qualname__"):
        return str(_PROCESSOR_NAMES.get(class_name, class_name))
    if str(getattr(function, "__module__", "")).startswith(("dataflows.", "dataflows_factory.")):
        return str(function.__qualname__.split(".")[0])
    name = str(function.__name__)
    code = getattr(function, "__code__", None)
    if name == "<lambda>" and code is not None:
        return f"lambda at {os.path.basename(code.co_filename)}:{code.co_firstlineno}"
    return name
