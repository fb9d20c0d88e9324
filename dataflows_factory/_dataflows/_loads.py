"""``load`` inside: its sources (for errors), tabulator streams, datapackage readers."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from typing import Any

from dataflows import load
from dataflows.helpers.resource_matcher import ResourceMatcher
from tableschema import Table
from tabulator import Stream

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

