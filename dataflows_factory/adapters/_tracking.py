"""Where in a flow an error happened: which processor, which resource, which row, which field.

dataflows reports none of this for errors raised while rows stream (it wraps errors in
``ProcessorError`` only while packages are set up), so the step executor installs a
:class:`RowTracker` on the processor chain before streaming and asks it afterwards;
:func:`execution_error` is the one formatter that turns any flow failure into a
:class:`FlowExecutionError`.
"""

from __future__ import annotations

import itertools
import os
import re
import traceback
from collections.abc import Iterable, Iterator
from operator import itemgetter
from typing import Any, NamedTuple

from dataflows import ValidationError, load, set_type, validate

from .. import _dataflows
from ..errors import DataError, FactoryError, FlowExecutionError, SourceError, shown_path
from ..processors.computed import computing_field
from ..processors.dataset_reader import read_with_row_errors
from ..store import redact

__all__ = ["RowTracker", "execution_error", "step_name"]


class Where(NamedTuple):
    """Where a streaming error happened, as far as the tracker knows."""

    processor: Any = None
    resource: str | None = None
    row: int | None = None
    field: str | None = None


class RowTracker:
    """Counts, per step that calls a function for each row and per resource, the rows that
    entered the step; checks that every ``load`` read a table.

    When a row function raises, the count is the (1-based) number of the row it failed on;
    for a ``rows`` function, of the last row it had been handed. The steps counted are the
    ``row``/``rows`` function steps, ``filter_rows``, ``add_computed_field``/``add_field``
    and ``set_type(transform=)``: counting is in C, other steps pay nothing. On a dataflows
    version outside :data:`~._dataflows.SUPPORTED` it counts nothing: errors are still
    raised, naming less of their place.
    """

    def __init__(self, ignore: tuple[str, ...] = ()) -> None:
        self.processors: list[Any] = []
        # id(processor) -> (resource, the count that numbers the rows handed to it)
        self.counters: dict[int, tuple[str, itertools.count[int]]] = {}
        self._ignore = ignore  # qualname prefixes of the executor's own function steps
        self._by_file: dict[str, Any] = {}
        self._by_key: dict[int, Any] = {}
        # id(counted row iterator) -> id(processor): which step a frame reading it belongs to
        self._fed: dict[int, int] = {}

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
        """Walk the chain back from its last processor: count the input of the steps that
        call row functions, and check what each ``load`` reads."""
        if not _dataflows.supported():
            return
        self.processors = _dataflows.processors_of(last)
        for processor in self.processors:
            self._by_key[id(processor)] = processor
            source = _dataflows.library_source_file(processor)
            if source is not None:
                self._by_file.setdefault(source, processor)
        for processor in self.processors:
            if _dataflows.calls_row_functions(processor) and not self._ignored(processor):
                _dataflows.feed_input_rows(processor, self._counter(id(processor)))
            if isinstance(processor, load):
                _dataflows.guard_load_setup(processor, _source_check(processor))

    def _ignored(self, processor: Any) -> bool:
        qualname = str(getattr(_dataflows.step_function(processor), "__qualname__", ""))
        return bool(self._ignore) and qualname.startswith(self._ignore)

    def _counter(self, key: int) -> Any:
        def counted(resource: str, rows: Iterable[Any]) -> Iterator[Any]:
            # Counting in C (no Python frame per row): zip takes the next number, then the
            # next row; row_of reads how far the count got.
            numbers = itertools.count(1)
            self.counters[key] = (resource, numbers)
            fed = map(itemgetter(1), zip(numbers, rows, strict=False))
            self._fed[id(fed)] = key
            return fed

        return counted

    def locate(self, error: BaseException) -> Where:
        """Where an error raised while streaming happened (``Where()`` when unknown)."""
        found: Any = None
        validated: Any = None
        computing: str | None = None
        for frame in _dataflows.error_frames(error):
            # Library processors written as package functions (filter_rows) stream rows in
            # plain generators: the rows they read say which step they are, else their file.
            candidate = frame.processor or self._reader(frame.reading) \
                or self._by_file.get(frame.file)
            if candidate is not None and not self._ignored(candidate):
                if candidate is not found:
                    computing = None  # what an outer step was computing is not the place
                found, validated = candidate, None  # only the innermost one counts
            if frame.validated is not None:
                validated = frame.validated
            computing = frame.computing or computing
        if validated is not None:
            # A cast failed: the processor that owns the validated resource asked for it
            # (set_type, load, validate), whatever frames its generator left behind.
            owner = self._owner(validated)
            if owner is not None:
                return Where(owner)
        if found is None:
            return Where()
        resource, row = self.row_of(id(found))
        return Where(found, resource, row, computing_field(error) or computing)

    def _reader(self, reading: tuple[Any, ...]) -> Any:
        for rows in reading:
            key = self._fed.get(id(rows))
            if key is not None:
                return self._by_key.get(key)
        return None

    def _owner(self, descriptor: Any) -> Any:
        for processor in self.processors:
            package = getattr(processor, "datapackage", None)
            for resource in getattr(package, "resources", None) or ():
                if resource.descriptor is descriptor:
                    return processor
        return None

    def changed_by(self, failing: Any, resource: str, field: str) -> list[Any]:
        """The steps before ``failing`` that could have set ``field`` of ``resource`` last.

        From the steps' output schemas (no value is tracked): the last step that declared
        or changed the field (``load``, ``set_type``, ``add_computed_field``, a rename...),
        unless it casts what it declares, and every function step after it (a row function
        can set any field).
        """
        if failing not in self.processors:
            return []
        before = self.processors[:self.processors.index(failing)]
        declared, previous = None, None
        for index, processor in enumerate(before):
            descriptor = _field_descriptor(processor, resource, field)
            if descriptor != previous:
                declared = index
            previous = descriptor
        if declared is None or previous is None:
            return []  # the field is not in the failing step's input: nothing to say
        functions = [p for p in before[declared + 1:]
                     if _dataflows.is_function_step(p) or _is_package_function(p)]
        functions = [p for p in functions if not self._ignored(p)]
        # load, set_type and validate cast the values they declare: the value they handed on
        # was of the declared type. Any other declaring step handed its own value on.
        casts = isinstance(before[declared], load | set_type | validate)
        return functions if casts and functions else [before[declared], *functions]


def _is_package_function(processor: Any) -> bool:
    # A user's `package` function (not a library one) may change any value.
    return type(processor).__name__ == "datapackage_processor" \
        and _dataflows.library_source_file(processor) is None


def _field_descriptor(processor: Any, resource: str, field: str) -> dict[str, Any] | None:
    package = getattr(processor, "datapackage", None)
    for described in (getattr(package, "descriptor", None) or {}).get("resources", ()):
        if described.get("name") == resource:
            for candidate in described.get("schema", {}).get("fields", ()):
                if candidate.get("name") == field:
                    return dict(candidate)
    return None


def _source_check(step: Any) -> Any:
    """What checks a ``load`` once it set its package up (``error``: it failed to)."""

    def check(error: BaseException | None) -> None:
        source = _dataflows.file_source(step)
        if source is None:
            if error is None:  # a datapackage: bad stored rows name their row and file
                read_with_row_errors(step)
            return
        if error is None and _dataflows.loaded_field_names(step):
            return  # it read a header: the one case that costs nothing more
        # An empty file fails in tabulator (IndexError) or reads as a table of no columns:
        # read its first rows again, without load's header handling, to say which it is.
        rows = _dataflows.sample_rows(step)
        if rows is None:
            return
        shown = shown_path(source)
        if not any(str(cell).strip() for row in rows for cell in row if cell is not None):
            if _blank_file(source):
                raise SourceError(f"{shown!r} is empty: no header row") from error
            # Not empty, but no table in it (a JSON object, an empty sheet of a workbook).
            raise SourceError(f"{shown!r} has no rows to read as a table: no header row "
                              f"(format {step.options.get('format') or _suffix(source)!r})"
                              ) from error
        if error is None:
            raise SourceError(f"{shown!r} has no header row: its first row names no column")

    return check


def _blank_file(source: str) -> bool:
    """Whether the local file ``source`` holds nothing but white space (a BOM included)."""
    path = source[len("file://"):] if source.startswith("file://") else source
    try:
        with open(path, "rb") as handle:
            # Read until the first byte that is not white space: a big file costs one block.
            for block in iter(lambda: handle.read(1 << 16), b""):
                if block.replace(b"\xef\xbb\xbf", b"").strip():
                    return False
    except OSError:
        return False  # a URL, or nothing to read: not known to be empty
    return True


def _suffix(source: str) -> str:
    return source.rsplit(".", 1)[-1].lower() if "." in _file_name(source) else ""


def execution_error(flow: str, error: BaseException, building: bool = False,
                    tracker: RowTracker | None = None) -> FlowExecutionError:
    """``error`` as a :class:`FlowExecutionError` naming the processor and, where known, the
    resource, row and field; ``building`` means the flow function itself raised."""
    raised_in: Any = None  # the processor a dataflows ProcessorError names
    where = Where()
    if not building and tracker is not None:
        where = _locate(tracker, error)
    name = "flow function" if building else _name(where.processor)
    position: int | None = getattr(where.processor, "position", None)
    source: str | None = None
    root: BaseException = error
    while True:
        wrapped = _dataflows.processor_error(root)
        if wrapped is not None:
            raised_in = wrapped[0]
            if name is None:
                position = wrapped[2]
                name = _name(raised_in) or _dataflows.processor_name(raised_in, wrapped[1])
            root = wrapped[3]
        elif root.__cause__ is not None and type(root).__name__ == "SourceLoadError":
            # load's own wrapper names the source, with every option: keep only the source.
            source = _dataflows.file_source(raised_in or where.processor)
            root = root.__cause__
        elif type(root).__module__.startswith("tabulator") and root.__cause__ is None \
                and isinstance(root.__context__, FactoryError):
            # tabulator re-raises whatever its row iteration raised as SourceError(str(error))
            # while handling it: ours (a load's row check, knowing its row) is the context.
            root = root.__context__
        else:
            break
    if isinstance(root, DataError):
        return FlowExecutionError(
            flow, redact(root.message), processor=_name(root.step) or name,
            position=getattr(root.step, "position", None) if root.step is not None else position,
            resource=root.resource, row=root.row, field=root.field, cause_type=root.kind)
    if isinstance(root, ValidationError):
        return _validation_error(flow, root, name, position, where.processor, tracker)
    message = str(root) or _assertion(root) or repr(root)
    if source is not None and _file_name(source) not in message:
        message = f"{shown_path(source)!r}: {message}"
    # An error that knows where it happened says so (parallelize's ParallelRowError); else
    # the tracker's count. A row function reading a missing key: that key is the field to
    # name (add_computed_field and set_type's transform name the field they were on).
    resource = _known(root, "resource", str) or where.resource
    row = _known(root, "row", int) or _known(root, "row_number", int) or where.row
    field_name = where.field or (str(root.args[0]) if isinstance(root, KeyError) and row
                                 and root.args else None)
    return FlowExecutionError(flow, redact(message), processor=name, position=position,
                              resource=resource, row=row, field=field_name,
                              cause_type=type(root).__name__)


def _assertion(error: BaseException) -> str | None:
    """For a bare ``assert`` (dataflows checks its arguments so): the statement that failed."""
    if not isinstance(error, AssertionError) or error.__traceback__ is None:
        return None
    frame = traceback.extract_tb(error.__traceback__)[-1]
    module = "/".join(frame.filename.replace(os.sep, "/").split("/")[-3:])
    return f"{(frame.line or '').strip() or 'assert'} failed ({module}:{frame.lineno})"


def _known(error: BaseException, attribute: str, kind: type) -> Any:
    value = getattr(error, attribute, None)
    return value if isinstance(value, kind) and not isinstance(value, bool) else None


def _validation_error(flow: str, root: ValidationError, name: str | None, position: int | None,
                      failing: Any, tracker: RowTracker | None) -> FlowExecutionError:
    """A value that does not fit its field's type: where it failed, and which steps set it."""
    errors = getattr(root.cast_error, "errors", None) or [root.cast_error]
    match = re.search(r'[Ff]ield "([^"]+)"', " ".join(map(str, errors)))
    field = match.group(1) if match else None
    message = "; ".join(str(e) for e in errors)
    changed: list[dict[str, Any]] = []
    if tracker is not None and field is not None and failing is not None:
        steps = _changed_by(tracker, failing, root.resource_name, field)
        changed = [{"position": getattr(s, "position", None), "processor": _name(s)} for s in steps]
    if changed:
        shown = ", ".join(f"step #{c['position']} {c['processor']!r}" for c in changed)
        message += f"; the value was last set by {'one of ' if len(changed) > 1 else ''}{shown}"
    return FlowExecutionError(
        flow, redact(message), processor=name, position=position, resource=root.resource_name,
        row=root.index + 1, field=field, cause_type="ValidationError", changed_by=changed)


def _name(processor: Any) -> str | None:
    """How a user names the step ``processor``: ``input 'flow'`` for an upstream dataset."""
    if processor is None:
        return None
    flow = getattr(processor, "flow", None)
    if isinstance(processor, load) and isinstance(flow, str):  # a DatasetStep
        return f"input {flow!r}"
    return _dataflows.processor_name(processor, type(processor).__name__)


def step_name(processor: Any) -> str | None:
    """How errors name the step ``processor`` (``dff trace`` names steps the same way)."""
    return _name(processor)


def _file_name(source: str) -> str:
    return source.rstrip("/").rsplit("/", 1)[-1]


def _locate(tracker: RowTracker, error: BaseException) -> Where:
    # Locating is a courtesy: whatever goes wrong in it, the error itself is what to report.
    try:
        return tracker.locate(error)
    except Exception:
        return Where()


def _changed_by(tracker: RowTracker, failing: Any, resource: str, field: str) -> list[Any]:
    try:  # a courtesy too
        return tracker.changed_by(failing, resource, field)
    except Exception:
        return []
