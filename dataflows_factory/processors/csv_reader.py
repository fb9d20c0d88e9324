"""Read plain local CSV files with the ``csv`` module, yielding tabulator's own rows.

``dataflows.load`` opens a ``tabulator.Stream`` (encoding detection, dialect sniffing,
header detection, the 1,000-row sample its schema is inferred from) and then iterates
``stream.iter(keyed=True)``. Tabulator pushes every row through several generator layers;
for a plain file the result is ``dict(zip(headers, record))`` for each ``csv.reader``
record after the header. This module keeps tabulator for everything up to and including
schema inference and replaces only that iteration, and only when the opened stream proves
the file is plain: local path, CSV, no compression, utf-8 without BOM, the excel dialect,
header in row 1 alone, no blank or ignored headers and load's default stream options.

It reads the same characters (``open(path, encoding="utf-8")`` is the very
``io.TextIOWrapper`` tabulator reads through, universal newlines included) with the same
dialect. At the first record it cannot vouch for (a different length than the header,
which includes blank lines) or on any error, it hands over to tabulator's own iterator,
skipping the rows already yielded, so irregular rows and error messages are tabulator's
(and the load's :class:`~dataflows_factory._row_shape.RowShape` checks and counts them).
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterator
from typing import Any

from .._dataflows import (
    after_process_datapackage,
    csv_dialect,
    pending_keyed_stream,
    reads_rows_as_parsed,
)
from .._row_shape import RowShape, row_parser

__all__ = ["PlainCSVRows", "install", "local_path"]

# What dataflows.load passes to tabulator when the user gave no stream option.
_DEFAULT_OPTIONS = {
    "ignore_blank_headers": True,
    "skip_rows": [{"type": "preset", "value": "auto"}],
    "headers": 1,
    "sample_size": 1000,
}
_DEFAULT_PARSERS = {"xml", "excel-xml", "sql", "geojson"}


def _default_options(options: dict[str, Any]) -> bool:
    # Every factory load carries a RowShape (post_parse): regular rows pass it untouched.
    if set(options) - {"post_parse"} != {*_DEFAULT_OPTIONS, "custom_parsers"}:
        return False
    if not all(isinstance(item, RowShape) for item in options.get("post_parse", ())):
        return False
    parsers = {name for name, parser in options["custom_parsers"].items() if not row_parser(parser)}
    if parsers != _DEFAULT_PARSERS:
        return False
    return all(options[key] == value for key, value in _DEFAULT_OPTIONS.items())


def _plain_dialect(stream: Any) -> bool:

    dialect = csv_dialect(stream)
    if dialect is None:
        return False
    # csv.reader(...).dialect is the dialect as the C reader resolved it (every attribute set).
    try:
        used = csv.reader([], dialect).dialect
    except (TypeError, csv.Error):
        return False
    excel = csv.reader([]).dialect
    return all(getattr(used, name) == getattr(excel, name) for name in (
        "delimiter", "quotechar", "doublequote", "escapechar", "skipinitialspace", "quoting",
        "strict"))


def local_path(stream: Any) -> str | None:
    """The file ``stream`` reads, when tabulator reads it as plain utf-8 CSV from disk."""

    source = stream.source
    if not isinstance(source, str) or stream.scheme != "file" or stream.format != "csv":
        return None
    if stream.compression != "no" or stream.encoding != "utf-8":
        return None  # "utf-8-sig" (a BOM) and every other encoding stay with tabulator
    # Header in row 1 alone, no column dropped: records after row 1 map 1:1 onto rows.
    if not reads_rows_as_parsed(stream, passes=lambda item: isinstance(item, RowShape)) \
            or not _plain_dialect(stream):
        return None
    return source[len("file://"):] if source.startswith("file://") else source


class PlainCSVRows:
    """``stream.iter(keyed=True)`` (given as ``fallback``, not started) for the plain file ``path``.

    Iterating it yields tabulator's keyed rows. A schema cast that can build typed rows
    straight from the ``csv`` records (``_casting.fast_schema_validator``) reads ``path``
    itself and hands over to ``fallback`` the same way.
    """

    def __init__(self, stream: Any, fallback: Iterator[dict[str, Any]], path: str) -> None:
        self.stream = stream
        self.fallback = fallback
        self.path = path
        self._rows: Iterator[dict[str, Any]] | None = None

    @property
    def headers(self) -> list[str]:
        # Read when rows start: load may have renamed duplicate headers after opening.
        return list(self.stream.headers)

    def records(self) -> Iterator[list[str] | dict[str, Any]]:
        """Each data row: the ``csv`` record (a list as long as the header) while the file is
        regular, then, from the first record it cannot vouch for (ragged, blank) or on any
        read error, tabulator's own keyed rows (dicts) for the rest of the file."""
        width = len(self.stream.headers)
        done = 0
        try:
            with open(self.path, encoding="utf-8") as chars:
                reader = csv.reader(chars)
                next(reader)  # the header row, which tabulator consumed at open
                for record in reader:
                    if len(record) != width:
                        break  # ragged or blank: tabulator decides
                    yield record
                    done += 1
                else:
                    return
        except Exception:
            pass  # whatever went wrong, tabulator re-reads up to here and raises its own error
        yield from itertools.islice(self.fallback, done, None)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self

    def __next__(self) -> dict[str, Any]:
        if self._rows is None:
            self._rows = self._keyed()
        return next(self._rows)

    def _keyed(self) -> Iterator[dict[str, Any]]:
        headers = self.headers
        for item in self.records():
            yield dict(zip(headers, item, strict=True)) if isinstance(item, list) else item


def install(step: Any) -> None:
    """Make the ``dataflows.load`` instance ``step`` read plain local CSVs with :class:`PlainCSVRows`.

    Example (what ``accelerate`` does for factory flows)::

        step = load("cities.csv")
        install(step)
        Flow(step, dump_to_path("out")).process()
    """

    def swap_iterators() -> None:
        # load has now added its defaults; any option the user gave leaves a trace here.
        if _default_options(step.options) and isinstance(step.iterators, list):
            step.iterators = [_swap(it) for it in step.iterators]

    after_process_datapackage(step, swap_iterators)


def _swap(iterator: Any) -> Any:

    stream = pending_keyed_stream(iterator)
    path = local_path(stream) if stream is not None else None
    return iterator if path is None else PlainCSVRows(stream, iterator, path)
