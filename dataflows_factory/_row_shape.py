"""Rows whose width differs from the header: extra cells fail, short rows are padded and counted.

tabulator hands ``load`` each source row as a list and zips it with the headers, so a row
with more cells than the header silently loses the extra values, and a short row silently
gets nulls. Every ``load`` of a factory flow gets a :class:`RowShape` as a tabulator
``post_parse`` processor (a public Stream option), which sees each data row with its
source row number before it is keyed:

- a row with extra non-empty cells fails the flow, naming the file, the line and the extra
  values (``load(..., extra_cells="drop")`` drops them instead, counted);
- a short row is padded with nulls, as before, and counted.

Three of tabulator's parsers lose or refuse such rows before any processor sees them, so a
load gets its own (public ``custom_parsers``): TSV (:class:`TSVRows`, whose original rejects
any other width unnamed), JSON objects (:class:`JSONRows`, keyed by the first object's
keys) and, for CSV and Excel, a header whose trailing blank cells are cut (dataflows'
``ignore_blank_headers`` would drop the values under them with the column).

The step executor reads the counts after the flow ran (:func:`counts`), so the run table,
the ``StepResult`` and the manifest show them.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

import tsv
from tabulator import Parser, helpers
from tabulator.parsers.json import JSONParser

from .errors import FactoryError, InvalidStepError

__all__ = ["EXTRA_CELLS", "JSONRows", "MalformedRowError", "RowShape", "TSVRows", "counts", "install",
           "row_parser"]

#: What a ``load`` does with cells beyond the header: ``fail`` (default) or ``drop``.
EXTRA_CELLS = ("fail", "drop")
OPTION = "extra_cells"
_SHOWN = 5  # extra values quoted in an error, at most
_SHEETS = ("xlsx", "xls", "ods")  # where a source row is a sheet row, not a line


class MalformedRowError(FactoryError, ValueError):
    """A source row has more cells than the header (data would be lost)."""

    def __init__(self, message: str, *, resource: str | None, row: int) -> None:
        super().__init__(message)
        self.resource = resource
        self.row = row  # the 1-based data row (header not counted)


class RowShape:
    """tabulator ``post_parse`` processor of one ``load`` step: checks and counts row widths."""

    def __init__(self, step: Any, extra_cells: str = "fail") -> None:
        self.step = step  # the load: once opened, it knows its resource's name
        # The source as the user wrote it (the executor makes relative paths absolute later).
        self.source = step.load_source
        self.extra_cells = extra_cells
        self.padded = 0  # short rows padded with nulls
        self.dropped = 0  # rows whose extra cells were dropped (extra_cells="drop")
        # JSON objects: source row number -> the keys the first object lacks (JSONRows).
        self.extra_keys: dict[int, list[str]] = {}

    def __repr__(self) -> str:
        return f"RowShape(extra_cells={self.extra_cells!r})"

    @property
    def resource(self) -> str | None:
        descriptors = getattr(self.step, "resource_descriptors", None) or ()
        return descriptors[-1].get("name") if descriptors else None

    def __call__(self, extended_rows: Iterable[tuple[int, list[str] | None, list[Any]]],
                 ) -> Iterator[tuple[int, list[str] | None, list[Any]]]:
        # Counters restart: tabulator re-reads from the top when a fast reader hands over.
        self.padded = self.dropped = 0
        for data_row, (number, headers, row) in enumerate(extended_rows, start=1):
            width = len(headers) if headers is not None else len(row)
            if len(row) != width:
                if len(row) < width:
                    row = [*row, *([None] * (width - len(row)))]
                    self.padded += 1
                elif any(cell not in (None, "") for cell in row[width:]):
                    if self.extra_cells == "fail":
                        raise self._error(number, data_row, headers or [], row[width:])
                    row = row[:width]
                    self.dropped += 1
                else:  # only empty cells past the header (a trailing comma): nothing lost
                    row = row[:width]
            yield number, headers, row

    def _error(self, number: int, data_row: int, headers: list[str], extra: list[Any],
               ) -> MalformedRowError:
        source = self.source
        shown = ", ".join(repr(value) for value in extra[:_SHOWN])
        if len(extra) > _SHOWN:
            shown += f", … ({len(extra)} in all)"
        columns = ", ".join(headers[:8]) + (", …" if len(headers) > 8 else "")
        keys = self.extra_keys.get(number)
        if keys is not None:
            return MalformedRowError(
                f"{source}, object {number} has key(s) {keys} that the first object does not "
                f"have (its keys: {columns}); their value(s) {shown} would be lost. Give the "
                f'first object every key, or pass load(..., {OPTION}="drop") to drop them '
                "(they are counted)", resource=self.resource, row=data_row)
        sheet = str(self.step.options.get("format") or source).lower().endswith(_SHEETS)
        where = (f"{source}, {'row' if sheet else 'line'} {number}" if isinstance(source, str)
                 else f"source row {number}")
        return MalformedRowError(
            f"{where} has {len(headers) + len(extra)} cells for {len(headers)} columns "
            f"({columns}); the extra value(s) {shown} would be lost. Fix the file, or pass "
            f'load(..., {OPTION}="drop") to drop extra cells (they are counted)',
            resource=self.resource, row=data_row)


def install(flow: str, position: int, step: Any) -> None:
    """Give the ``load`` step ``step`` (step #``position`` of ``flow``) its :class:`RowShape`."""
    options = step.options
    choice = options.pop(OPTION, "fail")
    if choice not in EXTRA_CELLS:
        raise InvalidStepError(
            f"flow {flow!r}, step #{position}: load({OPTION}={choice!r}); "
            f"choose one of {list(EXTRA_CELLS)}")
    if any(isinstance(existing, RowShape) for existing in options.get("post_parse", ())):
        return  # a flow function that returns the same load object twice
    # tabulator's TSV parser rejects a row of another width itself, naming neither the file
    # nor the values (and short rows too): this one hands every row to the check.
    # And tabulator keys JSON objects by the first one's keys, dropping any other key.
    shape = RowShape(step, choice)
    ours: dict[str, Any] = {"tsv": TSVRows, "json": _json_rows(shape)}
    if options.get("headers", 1) == 1:
        # ignore_blank_headers drops a column whose header cell is blank, values and all:
        # trailing blank header cells are cut instead, so values under them are extra cells.
        ours.update({"csv": _trimming("csv"), "xlsx": _trimming("xlsx")})
    parsers = options.get("custom_parsers")
    options["custom_parsers"] = {**ours, **(parsers if isinstance(parsers, dict) else {})}
    # After the user's own post_parse processors: they may reshape rows on purpose.
    options["post_parse"] = [*options.get("post_parse", ()), shape]


def row_parser(parser: Any) -> bool:
    """Whether ``parser`` is one of the parsers :func:`install` gives a load."""
    return isinstance(parser, type) and (issubclass(parser, TSVRows | JSONRows)
                                         or getattr(parser, "trims_header", False))


def shapes_of(step: Any) -> list[RowShape]:
    return [p for p in getattr(step, "options", {}).get("post_parse", ()) if isinstance(p, RowShape)]


def counts(steps: Iterable[Any]) -> tuple[dict[str, int], dict[str, int]]:
    """``(padded, dropped)``: per resource, the rows padded and the rows cut, of ``steps``."""
    padded: dict[str, int] = {}
    dropped: dict[str, int] = {}
    for step in steps:
        for shape in shapes_of(step):
            name = shape.resource or str(shape.source)
            if shape.padded:
                padded[name] = padded.get(name, 0) + shape.padded
            if shape.dropped:
                dropped[name] = dropped.get(name, 0) + shape.dropped
    return padded, dropped


class TSVRows(Parser):  # type: ignore[misc]
    """tabulator's TSV parser (linear TSV, ``\\t`` escapes, ``\\N`` for null) without its
    own width check: rows of any width go on, numbered by their line, to :class:`RowShape`."""

    options: ClassVar[list[str]] = []

    def __init__(self, loader: Any, force_parse: bool = False) -> None:
        self._loader = loader
        self._chars: Any = None
        self._encoding: str | None = None
        self._rows: Iterator[tuple[int, None, list[Any]]] | None = None

    @property
    def closed(self) -> bool:
        return self._chars is None or bool(self._chars.closed)

    def open(self, source: Any, encoding: str | None = None) -> None:
        self.close()
        self._chars = self._loader.load(source, encoding=encoding)
        self._encoding = getattr(self._chars, "encoding", encoding)
        self.reset()

    def close(self) -> None:
        if not self.closed:
            self._chars.close()

    def reset(self) -> None:
        helpers.reset_stream(self._chars)
        self._rows = _header_trimmed(
            (number, None, values) for number, values in tsv.parse_lines(self._chars))

    @property
    def encoding(self) -> str | None:
        return self._encoding

    @property
    def extended_rows(self) -> Iterator[tuple[int, None, list[Any]]] | None:
        return self._rows


class JSONRows(JSONParser):  # type: ignore[misc]
    """tabulator's JSON parser, but an object with keys the first object lacks keeps them, as
    extra cells after its values in the first object's key order, for :class:`RowShape`."""

    shape: RowShape  # set per load by _json_rows

    def reset(self) -> None:
        super().reset()
        self._first: list[str] | None = None

    @property
    def extended_rows(self) -> Any:
        rows = super().extended_rows
        return None if rows is None else self._aligned(rows)

    def _aligned(self, rows: Iterable[tuple[int, list[str] | None, list[Any]]]) -> Iterator[Any]:
        for number, keys, values in rows:
            if keys is None:  # arrays: positional already
                yield number, keys, values
                continue
            if self._first is None:  # tabulator takes this object's keys as the header
                self._first = keys
                yield number, keys, values
                continue
            item = dict(zip(keys, values, strict=True))
            extra = [key for key in keys if key not in self._first]
            row = [item.get(key) for key in self._first] + [item[key] for key in extra]
            if extra:
                self.shape.extra_keys[number] = extra
            # The first object's own key list: tabulator sees the header unchanged and passes
            # the row on as it is, extra cells included.
            yield number, self._first, row


def _json_rows(shape: RowShape) -> type[JSONRows]:
    return type("JSONRows", (JSONRows,), {"shape": shape})


_PARSERS = {"csv": ("tabulator.parsers.csv", "CSVParser"),
            "xlsx": ("tabulator.parsers.xlsx", "XLSXParser")}


@functools.cache
def _trimming(kind: str) -> type:
    """tabulator's parser for ``kind`` with the header row's trailing blank cells cut."""
    module, name = _PARSERS[kind]
    base = getattr(importlib.import_module(module), name)

    def extended_rows(self: Any) -> Any:
        rows = base.extended_rows.fget(self)
        return None if rows is None else _header_trimmed(rows)

    return type(name, (base,), {"extended_rows": property(extended_rows), "trims_header": True})


def _header_trimmed(rows: Iterable[tuple[int, Any, list[Any]]]) -> Iterator[tuple[int, Any, list[Any]]]:
    for number, headers, row in rows:
        if number == 1 and headers is None:
            width = len(row)
            while width and (row[width - 1] is None or not str(row[width - 1]).strip()):
                width -= 1
            if width:
                row = row[:width]
        yield number, headers, row
