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
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from dataflows.helpers.resource_matcher import ResourceMatcher

from .._dataflows import table_stream
from ._casting import HandOver, csv_row_reader, field_casters, strip_all, strip_fields
from .csv_reader import local_path

__all__ = ["accelerate_dataset"]


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
