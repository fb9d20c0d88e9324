"""The one module that touches private parts of dataflows, tabulator, tableschema and datapackage.

Everything here relies on how these libraries work inside (name-mangled attributes, the
shape of the closures dataflows' processor factories return, ``Flow._chain()``, generator
frames, patched methods); each use says what it relies on. The rest of the package asks
these functions and never looks inside the libraries itself (``tests/test_dataflows_internals.py``
checks that).

The ranges in :data:`SUPPORTED` are the versions these uses were verified with (run
``tests/processors`` and ``tests/test_dataflows_internals.py`` on a new version before widening
them). Outside them :func:`supported` says no, once per process with a warning: the fast
paths stay off, plain dataflows runs and the datasets are the same, only slower::

    if supported():
        step = faster_twin(step)
"""

from __future__ import annotations

import collections
import csv
import functools
import hashlib
import importlib.metadata
import inspect
import io
import json
import os
import re
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple

from dataflows import DataStreamProcessor, Flow, ResourceWrapper, load, set_type
from dataflows.base.exceptions import ProcessorError
from dataflows.base.schema_validator import raise_exception, schema_validator
from dataflows.helpers.resource_matcher import ResourceMatcher
from dataflows.processors.add_computed_field import process_resource as _computed_rows
from dataflows.processors.dumpers.dumper_base import DumperBase
from dataflows.processors.dumpers.file_dumper import UmaskNamedTemporaryFile
from dataflows.processors.dumpers.formats import CSVFormat
from tableschema import Table
from tabulator import Stream

__all__ = ["SUPPORTED", "Frame", "UnsupportedVersionWarning", "after_process_datapackage",
           "calls_row_functions", "closure_kind", "closure_options", "csv_dialect",
           "csv_format_into", "dump_resources", "dumps_plain_csv", "error_frames",
           "feed_input_rows", "file_source", "guard_load_setup", "installed_version",
           "is_function_step", "is_plain_schema_cast", "library_source_file",
           "loaded_field_names", "pass_rows_through", "pending_keyed_stream",
           "preserves_missing_values", "processor_error", "processor_name", "processors_of",
           "read_package_rows_with", "reads_rows_as_parsed", "sample_rows", "step_function",
           "stream", "supported", "table_stream", "widen_strptime_cache", "write_resource_file"]

# package -> [lowest supported, first unsupported) version, compared as tuples of ints.
SUPPORTED: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "dataflows": ((0, 5, 12), (0, 5, 13)),
    "tabulator": ((1, 54), (1, 55)),  # the module, as dataflows-tabulator installs it
    "tableschema": ((1, 21), (1, 22)),
    "datapackage": ((1, 15, 4), (1, 16)),
}


class UnsupportedVersionWarning(RuntimeWarning):
    """A library's version is outside :data:`SUPPORTED`: the fast paths are off."""


# ---------------------------------------------------------------- versions

def installed_version(package: str) -> str | None:
    """The installed version of ``package`` (one of :data:`SUPPORTED`), or ``None``."""
    if package == "tabulator":
        # Two distributions (tabulator, dataflows-tabulator) install this module: ask the one
        # that is actually imported.
        import tabulator

        return str(getattr(tabulator, "__version__", "") or "") or None
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _parse(version: str | None) -> tuple[int, ...] | None:
    match = re.match(r"\d+(?:\.\d+)*", version or "")
    return tuple(int(part) for part in match.group().split(".")) if match else None


def _span(low: tuple[int, ...], high: tuple[int, ...]) -> str:
    return f">={'.'.join(map(str, low))},<{'.'.join(map(str, high))}"


@functools.cache
def supported() -> bool:
    """Whether every library in :data:`SUPPORTED` is within its range (checked once).

    When one is not, warns once (:class:`UnsupportedVersionWarning`, naming the package, its
    version and the supported range) and returns ``False``: callers then run plain dataflows.
    """
    outside = []
    for package, (low, high) in SUPPORTED.items():
        version = installed_version(package)
        parsed = _parse(version)
        if parsed is None or not low <= parsed < high:
            outside.append(f"{package} {version} (supported: {_span(low, high)})")
    if outside:
        warnings.warn(
            f"dataflows-factory: {'; '.join(outside)} is outside the versions its fast paths "
            "were verified with; they are off and plain dataflows runs (same datasets, slower)",
            UnsupportedVersionWarning, stacklevel=2)
        return False
    return True


# ---------------------------------------------------------------- running a flow

_PLAIN_NAME = re.compile(r"[\w .-]+")  # a resources= string that is a name, not a pattern


@functools.cache
def _check_resource_names() -> None:
    """From now on, a processor's ``resources=`` naming a resource its package does not have
    fails there, naming it, instead of matching nothing (concatenate then fails far away in
    the dumper; update_resource, set_type, delete_resource quietly do nothing)."""
    # Every dataflows processor with a resources= option builds a ResourceMatcher(resources,
    # package) while it sets its package up: one check there covers all of them. Lists and
    # plain names are checked; a regular expression may match nothing on purpose.
    original = ResourceMatcher.__init__

    def __init__(self: Any, resources: Any, datapackage: Any) -> None:
        original(self, resources, datapackage)
        names = _resource_names(datapackage)
        if names is None:
            return
        wanted = ([resources] if isinstance(resources, str) and _PLAIN_NAME.fullmatch(resources)
                  else resources if isinstance(resources, list) else [])
        missing = [name for name in wanted if isinstance(name, str) and name not in names]
        if missing:
            raise ValueError(f"resources={resources!r}: no resource named {missing}; the "
                             f"package's resources are {names}")

    ResourceMatcher.__init__ = __init__


def _resource_names(datapackage: Any) -> list[str] | None:
    if isinstance(datapackage, dict):
        resources = datapackage.get("resources")
        return [str(r.get("name")) for r in resources] if isinstance(resources, list) else None
    resources = getattr(datapackage, "resources", None)
    return [str(r.name) for r in resources] if isinstance(resources, list) else None


def stream(flow: Flow, install: Callable[[DataStreamProcessor], None] | None = None,
           check: Callable[[dict[str, Any]], None] | None = None) -> None:
    """Run ``flow`` to its end, raising every error (``Flow.process()`` logs and swallows
    ``CastError``); ``install(last_processor)`` runs after the chain is linked, before rows
    flow, and ``check(descriptor)`` once every package is set up, before the first row.

    On an unsupported version ``install`` is not called (errors then name less of their place).
    """
    if supported():
        _check_resource_names()
        # Flow._chain() links the steps and returns the last processor (each holds its
        # `source`); its _process() sets the packages up and returns the lazy DataStream.
        last = flow._chain()
        if install is not None:
            install(last)
        datastream = last._process()
    else:
        datastream = flow.datastream()  # public: the same _chain()._process(), untracked
    if check is not None:
        check(datastream.dp.descriptor)
    for resource in datastream.res_iter:
        collections.deque(resource, maxlen=0)


def processors_of(last: Any) -> list[DataStreamProcessor]:
    """The processors of a linked chain, first to ``last``."""
    chain: list[DataStreamProcessor] = []
    # Each linked processor keeps the one before it in `source` (DataStreamProcessor.__call__);
    # the first one's source is a plain DataStream.
    while isinstance(last, DataStreamProcessor):
        chain.append(last)
        last = last.source
    return chain[::-1]


# dataflows' wrappers around plain row/rows functions (helpers.row_processor/rows_processor).
_FUNCTION_STEPS = ("row_processor", "rows_processor")


def is_function_step(processor: Any) -> bool:
    """Whether ``processor`` is dataflows' wrapper around a ``row``/``rows`` function."""
    return type(processor).__name__ in _FUNCTION_STEPS


def step_function(processor: Any) -> Any:
    """The user (or library) function a dataflows wrapper step runs, or ``None``."""
    # dataflows' helper wrappers (row/rows/datapackage processors) keep it in `func`.
    return getattr(processor, "func", None)


def library_source_file(processor: Any) -> str | None:
    """The source file of a library step's function (dataflows' or ours), or ``None``."""
    function = step_function(processor)
    code = getattr(function, "__code__", None)
    module = str(getattr(function, "__module__", ""))
    return code.co_filename if code is not None and module.startswith(_LIBRARIES) else None


def feed_input_rows(processor: Any, feed: Callable[[str, Iterable[Any]], Iterator[Any]]) -> None:
    """Make ``processor`` read each resource's rows through ``feed(resource_name, rows)``."""
    original = processor.process_resources

    def fed(resources: Iterable[ResourceWrapper], original: Any = original) -> Any:
        return original(ResourceWrapper(resource.res, feed(resource.res.name, resource))
                        for resource in resources)

    # Every processor gets its upstream resources through process_resources (get_iterator
    # calls it once, lazily): row/rows wrappers, package functions (it becomes their
    # package's iterator) and set_type alike. An instance attribute wins over the method.
    processor.process_resources = fed


# Library package functions that call a user's function (or evaluate a user's expression)
# for each row: a failure there names the row, so their input is counted too.
_ROW_CALLERS = ("filter_rows", "add_computed_field")


def calls_row_functions(processor: Any) -> bool:
    """Whether ``processor`` runs a function for each row it reads: a ``row``/``rows``
    function step, ``filter_rows``, ``add_computed_field``/``add_field`` (dataflows' or
    ours), or ``set_type(..., transform=)``."""
    if is_function_step(processor):
        return True
    if type(processor).__name__ == "set_type":
        # set_type keeps its wrapped transform in `transform` (None without one).
        return getattr(processor, "transform", None) is not None
    return library_source_file(processor) is not None \
        and processor_name(processor, type(processor).__name__) in _ROW_CALLERS


def pass_rows_through(step: Any) -> None:
    """Let a processor that changes no row hand its upstream resources on as they are."""
    # DataStreamProcessor.process_resource re-yields every row through process_row, one
    # generator step and one call per row; when a subclass overrides neither, handing the
    # resource on unchanged yields the very same rows (get_iterator re-wraps it with this
    # step's descriptor). Patched on the instance, as above.
    kind = type(step)
    if kind.process_resource is DataStreamProcessor.process_resource \
            and kind.process_row is DataStreamProcessor.process_row:
        step.process_resource = _pass_through


def _pass_through(resource: Any) -> Any:
    return resource


# ---------------------------------------------------------------- locating errors

class Frame(NamedTuple):
    """What one traceback frame tells about where a streaming error happened."""

    processor: Any  # the DataStreamProcessor whose method ran there, or None
    file: str  # the frame's source file
    validated: Any  # the resource descriptor dataflows' schema_validator was casting, or None
    computing: str | None = None  # the field add_computed_field or a set_type transform was on
    reading: tuple[Any, ...] = ()  # the row iterators of the resources the frame was reading


def error_frames(error: BaseException) -> Iterator[Frame]:
    """Each frame of ``error``'s traceback, outermost first."""
    traceback = error.__traceback__
    while traceback is not None:
        frame = traceback.tb_frame
        # A processor's own methods (and the generators they return) run with `self` bound.
        owner = frame.f_locals.get("self")
        validated = computing = None
        if frame.f_code.co_name == "schema_validator":
            # dataflows.base.schema_validator.schema_validator(resource, iterator, ...)
            validated = frame.f_locals.get("resource")
        elif frame.f_code is _computed_rows.__code__:
            # add_computed_field's process_resource(fields, rows) loops `for field in fields`
            # and, by then, has made each field's target a dict with its name.
            target = (frame.f_locals.get("field") or {}).get("target")
            computing = target.get("name") if isinstance(target, dict) else None
        elif frame.f_code is set_type.transformer.__code__:
            # set_type.transformer(rows, field_names) calls the transform `for field_name in ...`.
            name = frame.f_locals.get("field_name")
            computing = name if isinstance(name, str) else None
        # A package function's row generator (filter_rows' process_resource(rows, condition))
        # holds the ResourceWrapper it reads: which step's input it is tells the steps of one
        # library file (two filter_rows) apart.
        reading = tuple(value.it for value in frame.f_locals.values()
                        if isinstance(value, ResourceWrapper))
        yield Frame(owner if isinstance(owner, DataStreamProcessor) else None,
                    frame.f_code.co_filename, validated, computing, reading)
        traceback = traceback.tb_next


def processor_error(error: BaseException) -> tuple[Any, str, int | None, BaseException] | None:
    """``(processor, class name, position, cause)`` of a dataflows ``ProcessorError``, else None."""
    if not isinstance(error, ProcessorError):
        return None
    # ProcessorError(cause, processor_name=, processor_object=, processor_position=) keeps
    # them as attributes of the same names.
    cause = getattr(error, "cause", None) or error.__cause__
    if not isinstance(cause, BaseException):
        return None
    return (getattr(error, "processor_object", None), str(getattr(error, "processor_name", "")),
            getattr(error, "processor_position", None), cause)


_LIBRARIES = ("dataflows.", "dataflows_factory.")
# dataflows' own processor classes, named as users write them in a flow.
_CLASS_NAMES = {"PathDumper": "dump_to_path", "FastPathDumper": "dump_to_path",
                "SQLDumper": "dump_to_sql", "rows_processor": "rows function",
                "row_processor": "row function", "datapackage_processor": "package function"}


def processor_name(processor: Any, class_name: str) -> str:
    """How a user names the step ``processor`` (its class named ``class_name``)."""
    function = step_function(processor)
    if function is None or not hasattr(function, "__qualname__"):
        return str(_CLASS_NAMES.get(class_name, class_name))
    if str(getattr(function, "__module__", "")).startswith(_LIBRARIES):
        # Library processors are closures of their factory: join() returns join_aux.<locals>.func.
        return str(function.__qualname__.split(".")[0])
    name = str(function.__name__)
    code = getattr(function, "__code__", None)
    if name == "<lambda>" and code is not None:
        return f"lambda at {os.path.basename(code.co_filename)}:{code.co_firstlineno}"
    return name


# ---------------------------------------------------------------- load's sources, for errors

def guard_load_setup(step: Any, check: Callable[[BaseException | None], None]) -> None:
    """Call ``check(error)`` when the ``load`` step ``step`` fails to open its source (``error``
    is raised on as it was unless ``check`` raises its own), ``check(None)`` when it opened it:
    before anything else sees its row iterators (the fast readers, a DatasetStep's)."""
    original = step.safe_process_datapackage

    def safe_process_datapackage(dp: Any) -> Any:
        try:
            dp = original(dp)
        except Exception as error:
            check(error)
            raise
        check(None)
        return dp

    # load.process_datapackage calls self.safe_process_datapackage (and wraps what it raises
    # in SourceLoadError, naming the source): the instance attribute wins.
    step.safe_process_datapackage = safe_process_datapackage


def file_source(step: Any) -> str | None:
    """The file or URL a ``load`` step reads one table from, else ``None`` (a datapackage,
    rows in memory)."""
    if not isinstance(step, load) or not isinstance(step.load_source, str):
        return None
    # load reads a datapackage when the file is named datapackage.json or format= says so.
    source: str = step.load_source
    if os.path.basename(source) == "datapackage.json" or step.options.get("format") == "datapackage":
        return None
    return source


def loaded_field_names(step: Any) -> list[str]:
    """The fields a ``load`` of a file declared for its table (once its package is set up)."""
    # load appends the descriptor it built, with the inferred schema, to resource_descriptors;
    # extract_missing_values adds a field of its own, not read from the file.
    descriptors = getattr(step, "resource_descriptors", None) or [{}]
    extra = (step.extract_missing_values or {}).get("target")
    fields = descriptors[-1].get("schema", {}).get("fields", [])
    return [str(f.get("name")) for f in fields if f.get("name") != extra]


def sample_rows(step: Any, size: int = 50) -> list[list[Any]] | None:
    """The first ``size`` rows of a ``load`` step's file source as tabulator parses them, the
    header row included, or ``None`` when it cannot be opened (read only to explain an error)."""
    # Stream(load_source, **options) is how load opens it; without headers= every row is in
    # the sample, the 'auto' skip preset is what fails on an empty sample, and post_parse
    # processors are meant for data rows.
    options = {key: value for key, value in step.options.items()
               if key not in ("headers", "skip_rows", "post_parse", "sample_size")}
    try:
        with Stream(step.load_source, sample_size=size, **options) as stream:
            return [list(row) for row in stream.sample]
    except Exception:
        return None


def read_package_rows_with(step: Any, handler_for: Callable[[Any], Callable[..., None]]) -> None:
    """Make a ``load`` of a datapackage read each resource with ``exc_handler=handler_for(
    resource)``: tableschema hands that every bad row (a cast, its length, the header, a
    unique key) with its row number, where it raises "see exception.errors" by default."""
    package = getattr(step, "load_dp", None)
    iterators = getattr(step, "iterators", None)
    if package is None or not isinstance(iterators, list):
        return
    # load appended resource.iter(keyed=True, cast=True) for each resource its matcher took,
    # in the package's order; only iterators still unstarted and as load made them change.
    matcher = ResourceMatcher(step.resources, package)
    resources = [resource for resource in package.resources if matcher.match(resource.name)]
    if len(resources) != len(iterators):
        return
    step.iterators = [
        resource.iter(keyed=True, cast=True, exc_handler=handler_for(resource))
        if _as_load_reads(iterator) else iterator
        for resource, iterator in zip(resources, iterators, strict=True)]


def _as_load_reads(iterator: Any) -> bool:
    # An unstarted generator of tableschema's Table.iter with load's arguments and the
    # default exc_handler: its frame's locals are the arguments, nothing has been read.
    if getattr(iterator, "gi_code", None) is not Table.iter.__code__ \
            or inspect.getgeneratorstate(iterator) != inspect.GEN_CREATED:
        return False
    local = iterator.gi_frame.f_locals
    return local.get("keyed") is True and local.get("cast") is True \
        and local.get("exc_handler") is None and not local.get("extended") \
        and not local.get("integrity") and not local.get("relations")


# ---------------------------------------------------------------- recognising closures

# kind -> (module, qualname) of the inner `func` that dataflows' processor factory returns.
_CLOSURES = {
    "sort_rows": ("dataflows.processors.sort_rows", "sort_rows.<locals>.func"),
    "join": ("dataflows.processors.join", "join_aux.<locals>.func"),
    "add_computed_field": ("dataflows.processors.add_computed_field",
                           "add_computed_field.<locals>.func"),
}


def closure_kind(step: Any) -> str | None:
    """``"sort_rows"``, ``"join"`` or ``"add_computed_field"`` when ``step`` is the closure
    that dataflows' factory of that name returns; ``None`` for anything else."""
    # These factories return an inner function named `func`, recognised by module and qualname.
    if not inspect.isfunction(step) or step.__name__ != "func":
        return None
    where = (getattr(step, "__module__", ""), step.__qualname__)
    return next((kind for kind, place in _CLOSURES.items() if place == where), None)


def _nonlocals(func: Any, depth: int = 3) -> dict[str, Any]:
    """Every variable the closures of ``func`` (and their inner closures) capture."""
    found: dict[str, Any] = {}
    for name, value in inspect.getclosurevars(func).nonlocals.items():
        found.setdefault(name, value)
        if depth and inspect.isfunction(value) and value.__closure__:
            for inner, inner_value in _nonlocals(value, depth - 1).items():
                found.setdefault(inner, inner_value)
    return found


def closure_options(step: Any, kind: str) -> dict[str, Any] | None:
    """The arguments the closure ``step`` of ``kind`` (see :func:`closure_kind`) was built
    with, as keyword arguments of its twin in ``processors``; ``None`` if not all are found."""
    try:
        if kind == "sort_rows":
            return _sort_options(step)
        if kind == "join":
            return _join_options(step)
        if kind == "add_computed_field":
            return _computed_options(step)
    except (TypeError, ValueError, AttributeError):
        return None  # a closure of another shape: the step stays dataflows' own
    return None


def _sort_options(step: Any) -> dict[str, Any] | None:
    # sort_rows.<locals>.func captures key_calc (a KeyCalc), resources and reverse; KeyCalc
    # keeps the user's callable, or its own closure over formatters/key_spec, in `calculator`.
    names = _nonlocals(step, depth=0)
    calculator = getattr(names.get("key_calc"), "calculator", None)
    if calculator is None:
        return None
    key: Any = calculator
    if inspect.isfunction(calculator) and calculator.__qualname__.startswith("KeyCalc."):
        inner = _nonlocals(calculator, depth=0)
        formatters, spec = inner.get("formatters"), inner.get("key_spec")
        # The template's literal text never reaches the key in dataflows: only {fields} do.
        key = "".join(formatters) if formatters else list(spec or [])
        if not key:
            return None
    return {"key": key, "resources": names.get("resources"), "reverse": bool(names.get("reverse"))}


def _computed_options(step: Any) -> dict[str, Any] | None:
    # add_computed_field.<locals>.func captures exactly its factory's args, kw and resources.
    names = _nonlocals(step, depth=0)
    if set(names) != {"args", "kw", "resources"}:
        return None
    return {"args": names["args"], "kw": names["kw"], "resources": names["resources"]}


_JOIN_NAMES = ("source_name", "target_name", "source_delete", "fields", "mode", "source_key",
               "target_key", "deduplication")


def _join_options(step: Any) -> dict[str, Any] | None:
    # join_aux.<locals>.func reaches join_aux's locals through its inner closures: the fixed
    # fields, the mode resolved from `full`, and the keys as join's KeyCalc (with .key_spec);
    # `db` (its KVFile index) proves it is the join whose shape this was verified on.
    names = _nonlocals(step)
    if any(n not in names for n in _JOIN_NAMES) or names.get("db") is None:
        return None
    target_key = names["target_key"]
    return {"source_name": names["source_name"], "source_key": names["source_key"].key_spec,
            "source_delete": names["source_delete"], "target_name": names["target_name"],
            "target_key": None if target_key is None else target_key.key_spec,
            "fields": names["fields"], "mode": names["mode"]}


def is_plain_schema_cast(caster: Any) -> bool:
    """Whether a ``load`` step's ``caster`` is the plain schema cast whose errors raise."""
    # load keeps its cast in a lambda `(res, it) -> schema_validator(res, it[, on_error=...])`
    # capturing at most on_error; only the default on_error (raise_exception) qualifies.
    if not inspect.isfunction(caster) or caster.__code__.co_argcount != 2:
        return False
    found = inspect.getclosurevars(caster)
    if found.globals.get("schema_validator") is not schema_validator or found.builtins:
        return False
    return not (set(found.nonlocals) - {"on_error"}) \
        and found.nonlocals.get("on_error", raise_exception) is raise_exception \
        and caster.__code__.co_names == ("schema_validator",)


def widen_strptime_cache() -> None:
    """Let the stdlib keep 64 compiled strptime patterns instead of 5 (no result changes)."""
    # Schema inference tries a dozen date/time patterns per sampled cell; the stdlib's private
    # _strptime._CACHE_MAX_SIZE (5) makes it recompile regexes ~70k times per load (~3 s).
    import _strptime  # type: ignore[import-not-found]

    if getattr(_strptime, "_CACHE_MAX_SIZE", 0) < 64:
        _strptime._CACHE_MAX_SIZE = 64


# ---------------------------------------------------------------- load, tabulator, datapackage

def after_process_datapackage(step: Any, then: Callable[[], None]) -> None:
    """Call ``then()`` right after the processor ``step`` has set its package up."""
    original = step.process_datapackage

    def process_datapackage(dp: Any) -> Any:
        dp = original(dp)
        then()
        return dp

    # DataStreamProcessor._process calls self.process_datapackage: the instance attribute wins.
    step.process_datapackage = process_datapackage


def pending_keyed_stream(iterator: Any) -> Stream | None:
    """The tabulator ``Stream`` of an unstarted ``stream.iter(keyed=True)`` generator, else None."""
    # load keeps only the generator of Stream.iter(keyed=True); before it starts, its frame's
    # locals are iter's arguments (self, keyed, extended) and nothing has been read.
    if getattr(iterator, "gi_code", None) is not Stream.iter.__code__ \
            or inspect.getgeneratorstate(iterator) != inspect.GEN_CREATED:
        return None
    local = iterator.gi_frame.f_locals
    if local.get("keyed") is not True or local.get("extended"):
        return None
    stream = local.get("self")
    return stream if isinstance(stream, Stream) else None


# Stream.__init__ options that, when set, skip, pick, cut or alter rows (all are falsy by default).
_ROW_OPTIONS = ("ignored_headers_indexes", "force_strings", "pick_rows",
                "skip_rows_by_numbers", "skip_rows_by_comments", "skip_rows_by_patterns",
                "limit_rows", "offset_rows")


def reads_rows_as_parsed(stream: Any, passes: Callable[[Any], bool] = lambda _: False) -> bool:
    """Whether an open ``Stream`` has its header in row 1 alone and hands every later record
    on as parsed (nothing skipped, picked, limited, dropped or post-processed, except by
    ``post_parse`` processors for which ``passes`` is true: they pass regular rows as they are)."""
    # Stream keeps its options in name-mangled attributes (_Stream__<option>); a missing one
    # (another tabulator) counts as "not plain".
    if getattr(stream, "_Stream__headers_row", None) != 1 \
            or getattr(stream, "_Stream__headers_row_last", None) != 1:
        return False
    post_parse = getattr(stream, "_Stream__post_parse", None)
    if not isinstance(post_parse, list) or not all(passes(item) for item in post_parse):
        return False
    return not any(getattr(stream, f"_Stream__{name}", True) for name in _ROW_OPTIONS)


def csv_dialect(stream: Any) -> Any:
    """The ``csv`` dialect an open CSV ``Stream`` parses with, or ``None``."""
    # tabulator's CSVParser keeps the sniffed dialect in _CSVParser__dialect, and the
    # stream keeps its parser in _Stream__parser.
    return getattr(getattr(stream, "_Stream__parser", None), "_CSVParser__dialect", None)


def table_stream(resource: Any) -> Any:
    """The (unopened) tabulator ``Stream`` a ``datapackage.Resource`` reads its rows from."""
    # Resource.__get_table() builds (once) the tableschema Table, which keeps its tabulator
    # Stream in _Table__stream; the public resource.table is deprecated and warns.
    return resource._Resource__get_table()._Table__stream


def preserves_missing_values(field: Any) -> bool:
    """Whether a tableschema ``Field`` keeps missing values as they are (not ``None``)."""
    # Field reads TABLESCHEMA_PRESERVE_MISSING_VALUES once, into _Field__preserve_missing_values;
    # a Field without it (another tableschema) counts as preserving (the exact path).
    return bool(getattr(field, "_Field__preserve_missing_values", True))


# ---------------------------------------------------------------- dumpers

def dumps_plain_csv(dumper: Any, resource_name: str) -> bool:
    """Whether a ``dump_to_path`` writes ``resource_name`` as plain CSV with default options."""
    # FileDumper keeps its options in these attributes (set in __init__) and the formatter
    # class chosen per resource in file_formatters (set in process_datapackage).
    return (dumper.forced_format == "csv" and bool(dumper.force_format) and not dumper.use_titles
            and not dumper.temporal_format_property and not dumper.writer_options
            and not dumper.custom_formatters
            and dumper.file_formatters.get(resource_name) is CSVFormat)


def dump_resources(dumper: Any, resources: Iterable[ResourceWrapper],
                   rows_of: Callable[[ResourceWrapper], Iterator[Any]]) -> Iterator[Any]:
    """``DumperBase.process_resources`` with ``rows_of(resource)`` in place of its
    ``process_resource(ResourceWrapper(res, schema_validator(res, resource)))``."""
    # The steps of DumperBase.process_resources in dataflows 0.5.12, in its order:
    # initialize(), row_counter() per resource, the package hash under the datapackage_hash
    # counter, handle_datapackage(), finalize().
    dumper.initialize()
    for resource in resources:
        yield dumper.row_counter(resource, rows_of(resource))
    if dumper.datapackage_hash:
        text = json.dumps(dumper.datapackage.descriptor, sort_keys=True, ensure_ascii=True,
                          indent=2 if dumper.pretty_descriptor else None)
        DumperBase.set_attr(dumper.datapackage.descriptor, dumper.datapackage_hash,
                            hashlib.md5(text.encode("ascii")).hexdigest())
    dumper.handle_datapackage()
    dumper.finalize()


def write_resource_file(dumper: Any, resource: ResourceWrapper,
                        writer_for: Callable[[Any], Any]) -> Iterator[Any]:
    """The rows of ``resource``, written as they pass by ``writer_for(file)`` (an object with
    ``write_row(row)`` and ``finalize_file()``) into the dumper's next resource file."""
    # FileDumper.process_resource's temporary file (umask-respecting, CSVFormat's mode) and
    # its rows_processor, which counts bytes, hashes the file and moves it into place.
    temp_file = UmaskNamedTemporaryFile(mode=CSVFormat.FILE_MODE, delete=False, newline="")
    # The wrapper's file: tempfile's wrapper forwards every write() through a Python call.
    rows: Iterator[Any] = dumper.rows_processor(resource, writer_for(temp_file.file), temp_file)
    return rows


def csv_format_into(file: Any, schema: Any) -> Any:
    """A ``CSVFormat`` for ``schema`` whose rows go to ``file`` (with no header written)."""
    # FileFormat writes the header when it is built and rows through its `writer` attribute
    # (CSVFormat: a csv.DictWriter): build it on a scratch buffer, then point it at `file`.
    formatter = CSVFormat(io.StringIO(), schema)
    formatter.writer = csv.DictWriter(file, [f.name for f in schema.fields])
    return formatter
