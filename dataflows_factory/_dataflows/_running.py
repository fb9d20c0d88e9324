"""Running a flow and locating its errors: the chain, its processors, their functions and frames."""

from __future__ import annotations

import collections
import functools
import itertools
import os
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple

from dataflows import DataStreamProcessor, Flow, ResourceWrapper, set_type
from dataflows.base.exceptions import ProcessorError
from dataflows.helpers.resource_matcher import ResourceMatcher
from dataflows.processors.add_computed_field import process_resource as _computed_rows

from ._profiles import check_profiles_once
from ._versions import supported

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
        check_profiles_once()
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


def is_source(processor: Any) -> bool:
    """Whether ``processor`` brings rows in: a ``load`` (a file, a URL, an upstream dataset)
    or dataflows' loader of an iterable of rows in the flow."""
    from dataflows import load

    return isinstance(processor, load) or type(processor).__name__ == "iterable_loader"


def cap_new_resources(processor: Any, limit: int) -> None:
    """Make ``processor`` hand on at most ``limit`` rows of each resource it adds (the
    resources it receives pass as they are)."""
    original = processor.process_resources

    def capped(resources: Iterable[Any], original: Any = original) -> Iterator[Any]:
        received = 0

        def counted() -> Iterator[Any]:
            nonlocal received
            for resource in resources:
                received += 1
                yield resource

        # A processor's process_resources hands on the resources it received first, each
        # after taking it, then the ones it adds (load, iterable_loader): an output that
        # comes when every input was taken, and is not one of them, is one it adds.
        for index, rows in enumerate(original(counted())):
            if index < received:
                yield rows
            elif isinstance(rows, ResourceWrapper):
                yield ResourceWrapper(rows.res, itertools.islice(rows, limit))
            else:
                yield itertools.islice(rows, limit)

    # Instance attribute over the method, as in feed_input_rows: get_iterator calls it once.
    processor.process_resources = capped


def watch_output(processor: Any, watch: Callable[[str, Iterable[Any]], Iterator[Any]]) -> None:
    """Make each resource ``processor`` hands on pass through ``watch(resource_name, rows)``."""
    original = processor.process_resources

    def watched(resources: Iterable[Any], original: Any = original) -> Iterator[Any]:
        # get_iterator pairs what process_resources yields with the processor's own
        # package resources, in order: the i-th output is datapackage.resources[i].
        for index, rows in enumerate(original(resources)):
            name = processor.datapackage.resources[index].name
            if isinstance(rows, ResourceWrapper):
                yield ResourceWrapper(rows.res, watch(name, rows))
            else:
                yield watch(name, rows)

    processor.process_resources = watched


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

