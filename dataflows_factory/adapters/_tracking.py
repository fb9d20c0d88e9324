"""Where in a flow an error happened: which processor, which resource, which row.

dataflows reports none of this for errors raised while rows stream (it wraps errors in
``ProcessorError`` only while packages are set up), so the step executor installs a
:class:`RowTracker` on the processor chain before streaming and asks it afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from dataflows.base.datastream_processor import DataStreamProcessor
from dataflows.base.resource_wrapper import ResourceWrapper

__all__ = ["RowTracker"]

# dataflows' wrappers around plain functions: the steps whose input rows we count.
_FUNCTION_STEPS = ("row_processor", "rows_processor")


class RowTracker:
    """Counts, per function step and resource, the rows that entered the step.

    When a row function raises, the count is the (1-based) number of the row it failed on;
    for a ``rows`` function, of the last row it had been handed.
    """

    def __init__(self, ignore: tuple[str, ...] = ()) -> None:
        self.processors: list[DataStreamProcessor] = []
        self.position: dict[int, tuple[str, int]] = {}  # id(processor) -> (resource, row)
        self._ignore = ignore  # qualname prefixes of the executor's own function steps
        self._by_file: dict[str, DataStreamProcessor] = {}

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
            name = resource.res.name

            def rows() -> Iterator[Any]:
                for number, row in enumerate(resource, start=1):
                    self.position[key] = (name, number)
                    yield row

            return original(ResourceWrapper(resource.res, rows()))

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
        resource, row = self.position.get(id(found), (None, None))
        return found, resource, row

    def _owner(self, descriptor: Any) -> Any:
        for processor in self.processors:
            package = getattr(processor, "datapackage", None)
            for resource in getattr(package, "resources", None) or ():
                if resource.descriptor is descriptor:
                    return processor
        return None
