"""Read an upstream flow's dataset with the ``csv`` module and compiled casters.

A :class:`~dataflows_factory.flow.DatasetStep` is a ``dataflows.load`` of the upstream
``datapackage.json``: every resource is read through ``datapackage.Resource.iter(keyed=True,
cast=True)``, i.e. tabulator's row pipeline and tableschema's ``Schema.cast_row`` (about
4 µs per value), then ``load``'s stripper. For a resource that is a plain local CSV (what our
dumper writes) this module yields the same rows from ``csv.reader`` records, cast by the
compiled casters of ``_casting`` and stripped in the same pass.

Same rows, or the original path:

- The resource's tabulator stream is opened as datapackage opens it and must pass
  ``csv_reader``'s plainness checks (local file, utf-8 without BOM, excel dialect, header
  in row 1 and nothing skipped); the file's header must equal the schema's field names
  (tableschema checks that on every row); a primary key or a ``unique`` constraint (checked
  by tableschema while reading) keeps the resource on the original path.
- At the first record the compiled cast cannot vouch for (a value that needs tableschema, a
  ragged or blank line, any error), the rest of the resource comes from the original
  iterator, skipping the rows already yielded, so values and errors are tableschema's own.

When a flow runs, either way, a bad stored row (a hand-edited dataset) fails with a
:class:`~dataflows_factory.errors.DataError` naming the dataset, its file, the data row and
tableschema's own messages, not a ``CastError`` that says "see exception.errors": the step
executor calls :func:`read_with_row_errors` on every ``load`` of a datapackage as soon as it
has opened its resources, so the original iterators (and the ones the compiled readers hand
over to) are those.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import Any

from dataflows.helpers.resource_matcher import ResourceMatcher

from .._dataflows import read_package_rows_with, table_stream
from ..errors import DataError, shown_path
from ._casting import HandOver, csv_row_reader, field_casters, strip_all, strip_fields
from .csv_reader import local_path

__all__ = ["accelerate_dataset", "read_with_row_errors", "row_errors"]

# tableschema's messages number the row in the file ('for row "3"', 'in row 3'): the error
# names the data row instead.
_FILE_ROW = re.compile(r' (?:for|in) row "?\d+"?')


def read_with_row_errors(step: Any) -> None:
    """Make a ``load`` of a ``datapackage.json`` (after its ``process_datapackage``) raise a
    :class:`DataError` at a bad row: the dataset and file, the 1-based data row, the field
    and tableschema's messages (its own ``CastError`` says only "see exception.errors")."""
    flow = getattr(step, "flow", None)  # a DatasetStep: an upstream flow's dataset
    package = (f"dataset of flow {flow!r}" if isinstance(flow, str)
               else f"datapackage {shown_path(str(step.load_source))!r}")
    read_package_rows_with(step, lambda resource: row_errors(resource, package, step))


def row_errors(resource: Any, package: str, step: Any = None) -> Any:
    """The ``exc_handler`` that makes tableschema's read of ``resource`` (a
    ``datapackage.Resource`` of ``package``, as messages name it) raise a :class:`DataError`.

    >>> resource.iter(keyed=True, cast=True, exc_handler=row_errors(resource, "dataset of flow 'x'"))
    ... # doctest: +SKIP
    """
    path = resource.source if isinstance(resource.source, str) else resource.name
    source = f"{package}, file {shown_path(path)!r}"

    def exc_handler(exc: Exception, row_number: int | None = None, row_data: Any = None,
                    error_data: Any = None) -> None:
        # tableschema's exc_handler signature; raising stops the read, as its default does.
        details = [str(e) for e in getattr(exc, "errors", None) or ()] or [str(exc)]
        # error_data is the failing values (cast, unique key) or the whole row (length, header).
        field = next(iter(error_data), None) if error_data and error_data is not row_data else None
        raise DataError(
            "; ".join(_FILE_ROW.sub("", detail) for detail in details), kind=type(exc).__name__,
            source=source, step=step, resource=resource.name,
            row=row_number - 1 if row_number else None,  # the header is row 1 of the file
            field=str(field) if field is not None else None)

    return exc_handler


def accelerate_dataset(step: Any) -> None:
    """Swap the row iterators of a ``load`` of a ``datapackage.json`` (after its
    ``process_datapackage``) for compiled readers where a resource allows it."""
    package = getattr(step, "load_dp", None)
    if package is None or not isinstance(step.iterators, list) or step.limit_rows \
            or step.extract_missing_values:
        return
    matcher = ResourceMatcher(step.resources, package)
    resources = [r for r in package.resources if matcher.match(r.name)]
    if len(resources) != len(step.iterators):
        return
    strip = bool(step.strip)
    swapped = []
    for resource, iterator in zip(resources, step.iterators, strict=True):
        fast = _typed_rows(resource, iterator, strip)
        if fast is not None:
            swapped.append(fast)
        else:
            swapped.append(step.stripper(iterator) if strip else iterator)
    step.iterators = swapped
    step.strip = False  # each iterator strips as load would have (after its cast)


def _typed_rows(resource: Any, fallback: Iterator[dict[str, Any]], strip: bool,
                ) -> Iterator[dict[str, Any]] | None:
    path = _plain_file(resource)
    if path is None:
        return None
    schema = resource.schema
    names = list(schema.field_names)
    if schema.primary_key or len(set(names)) != len(names) \
            or any(f.constraints.get("unique") for f in schema.fields):
        return None
    read = csv_row_reader(field_casters(schema), strip_fields(schema) if strip else None, header=names)

    def hand_over(done: int) -> Iterator[dict[str, Any]]:
        # The original iterator re-reads up to here and decides (a value, or its error).
        for row in itertools.islice(fallback, done, None):
            if strip:
                strip_all(row)
            yield row

    return read(path, _slow, hand_over)  # type: ignore[no-any-return]


def _slow(record: list[str], index: int) -> dict[str, Any]:
    raise HandOver(index)


def _plain_file(resource: Any) -> str | None:
    try:
        if not resource.tabular or not resource.local or resource.multipart:
            return None
        stream = table_stream(resource)
        stream.open()
        try:
            return local_path(stream)
        finally:
            stream.close()
    except Exception:
        return None  # whatever datapackage would say about this resource, it says it itself
