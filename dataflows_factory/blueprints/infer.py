"""Read a sample of one table as ``load`` would, guess its schema as ``load`` does, and judge the guess.

``dataflows.load`` opens a ``tabulator.Stream`` and infers the schema from its first 1,000
rows (``Schema.infer(..., confidence=1)``); a factory's load then casts every row with that
schema, so a guess that the rest of the file contradicts fails the flow. This module
repeats load's guess over the same first rows, reads further (at most :data:`MAX_ROWS`
rows and :data:`MAX_CHARS` characters: never the whole of a big file) and marks each column
*certain* or *uncertain* with the reason: values past load's sample that do not fit,
mostly-typed text, dates in several formats, day/month order that the data cannot decide,
leading zeros an integer would drop, empty columns. The blueprint sets an uncertain
column's type explicitly and prints the reason next to it.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from dataflows import load
from tableschema import Schema, config, types
from tabulator import Stream

from .. import _dataflows
from .sources import Source, SourceError

__all__ = ["MAX_CHARS", "MAX_ROWS", "Column", "Table", "infer_table"]

MAX_ROWS = 10_000
MAX_CHARS = 4_000_000
LOAD_SAMPLE = 1000  # dataflows.load's sample_size
# Formats a value may match either way round; the data decides only when a day is > 12.
_SWAPPED = {"%d/%m/%Y": "%m/%d/%Y", "%m/%d/%Y": "%d/%m/%Y", "%d/%m/%y": "%m/%d/%y", "%m/%d/%y": "%d/%m/%y"}
_DATE_LIKE = re.compile(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}")
_SPECIFIC = ("datetime", "date", "time", "integer", "number", "boolean")
_DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%Y/%m/%d", "%d-%m-%Y", "%d/%m/%y",
                 "%m/%d/%y")


@dataclass(frozen=True)
class Column:
    """A column as the blueprint reads it: the type, and why it is set explicitly (if it is)."""

    name: str
    type: str
    format: str = "default"
    why: str = ""  # empty: load's own guess, certain; else the reason the type is set explicitly

    @property
    def kind(self) -> str:
        """The type, with a date format when it is not ISO: ``date (%d/%m/%Y)``."""
        extra = f" ({self.format})" if self.format not in ("default", "%Y-%m-%d", "any") else ""
        return f"{self.type}{extra}"

    def override(self) -> dict[str, str]:
        # The format too, always: load's override_fields updates the inferred field, so a
        # guessed date format would otherwise stay on a column now read as text.
        return {"type": self.type, "format": self.format}


@dataclass(frozen=True)
class Table:
    """One sampled table: its columns, how many rows were read, and the load options it needs."""

    source: Source
    format: str
    columns: tuple[Column, ...]
    rows: int
    complete: bool  # the sample is the whole table
    options: dict[str, Any] = field(default_factory=dict)  # extra load() arguments, with reasons
    notes: tuple[str, ...] = ()

    @property
    def headers(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


def infer_table(source: Source) -> Table:
    """Sample ``source`` and judge load's guess of its schema; :class:`SourceError` names it if it
    cannot be read."""
    try:
        with _open(source.location) as stream:
            return _read(source, stream)
    except SourceError:
        raise
    except Exception as cause:
        raise SourceError(f"{source.label}: cannot read it: {_reason(cause)}") from None


def _open(location: str) -> Any:
    # Exactly the options dataflows.load gives tabulator when the user gives none.
    return Stream(location, headers=1, skip_rows=[{"type": "preset", "value": "auto"}],
                  ignore_blank_headers=True, sample_size=LOAD_SAMPLE,
                  custom_parsers=load.get_custom_parsers()).open()


def _reason(cause: BaseException) -> str:
    text = " ".join(str(cause).split()) or type(cause).__name__
    if isinstance(cause, IndexError):  # tabulator on a file without a single line
        text = "it is empty"
    elif type(cause).__name__ == "EncodingError":
        text = f"not text in a known encoding (a binary file?): {text}"
    return text[:300]


def _read(source: Source, stream: Any) -> Table:
    headers = [str(h) if h is not None else "" for h in (stream.headers or [])]
    if not headers:
        raise SourceError(f"{source.label}: no header row: it is empty or not a table")
    if any("\ufffd" in header or not header.isprintable() for header in headers):
        raise SourceError(f"{source.label}: the header row holds binary characters: not a table file")
    options: dict[str, Any] = {}
    notes: list[str] = []
    if len(set(headers)) != len(headers):
        headers = load.rename_duplicate_headers(headers)
        options["deduplicate_headers"] = "repeated column names: renamed 'x (1)', 'x (2)', ..."
    rows, complete, wide = _sample(stream, len(headers))
    if wide:
        options["extra_cells"] = (f"{wide:,} sampled row(s) have more cells than the header: the extra "
                                  "cells are dropped (and counted in the run table)")
    _dataflows.guess_types_faster()  # the same guesses, several times faster
    guessed = Schema({}).infer([list(r) for r in stream.sample], headers=list(headers), confidence=1)
    columns = tuple(_judge(str(name), f, [row[i] for row in rows])
                    for i, (name, f) in enumerate(zip(headers, guessed["fields"], strict=True)))
    if not complete:
        notes.append(f"sampled the first {len(rows):,} rows, not the whole file")
    return Table(source, str(stream.format), columns, len(rows), complete, options, tuple(notes))


def _sample(stream: Any, width: int) -> tuple[list[list[Any]], bool, int]:
    """Up to MAX_ROWS rows (padded/cut to the header), whether that is all, rows with extra cells."""
    rows: list[list[Any]] = []
    chars = wide = 0
    iterator = stream.iter()
    for row in itertools.islice(iterator, MAX_ROWS):
        wide += len(row) > width
        row = (list(row) + [None] * width)[:width]
        rows.append(row)
        chars += sum(len(str(value)) for value in row if value is not None)
        if chars > MAX_CHARS:
            return rows, False, wide
    return rows, len(rows) < MAX_ROWS or next(iterator, None) is None, wide


def _word(kind: str) -> str:
    return "text" if kind == "string" else kind


def _missing(value: Any) -> bool:
    return value is None or value == ""


def _fits(kind: str, fmt: str, value: Any) -> bool:
    return bool(getattr(types, f"cast_{kind}")(fmt, value) is not config.ERROR)


def _examples(values: Iterable[Any], limit: int = 2) -> str:
    picked = list(dict.fromkeys(repr(v)[:24] for v in values))[:limit]
    return ", ".join(picked)


def _judge(name: str, guess: dict[str, Any], values: Sequence[Any]) -> Column:
    """load's guess for one column (from the first LOAD_SAMPLE values), checked against them all."""
    kind, fmt = str(guess.get("type", "string")), str(guess.get("format", "default"))
    present = [v for v in values if not _missing(v)]
    if not present:
        where = f"all {len(values):,} sampled rows" if values else "the file (no data rows)"
        return Column(name, "string", why=f"empty in {where}: read as text; give it its type once it "
                                          "has values")
    late = [(n, v) for n, v in enumerate(values[LOAD_SAMPLE:], start=LOAD_SAMPLE + 2)
            if not _missing(v) and not _fits(kind, fmt, v)]
    if late:
        wider = Schema({}).infer([[v] for v in values], headers=[name], confidence=1)["fields"][0]
        line, value = late[0]
        return Column(name, wider["type"], wider["format"], why=(
            f"load guesses {kind} from the first {LOAD_SAMPLE:,} rows, but row {line:,} holds "
            f"{value!r:.30}: read as {_word(wider['type'])}"))
    if kind in ("string", "any"):
        return _judge_text(name, present, kind)
    texts = [v for v in present if isinstance(v, str)]
    if kind == "integer" and any(len(v) > 1 and v.lstrip("+-").startswith("0") for v in texts):
        zeros = [v for v in texts if len(v) > 1 and v.lstrip("+-").startswith("0")]
        return Column(name, "string", why=f"integers with leading zeros ({_examples(zeros)}): read as "
                                          "text to keep them; use integer if they are amounts")
    if kind == "date" and fmt in _SWAPPED and all(_fits("date", _SWAPPED[fmt], v) for v in present):
        return Column(name, "date", fmt, why=f"every date fits day/month and month/day: read as {fmt}; "
                                             f"use {_SWAPPED[fmt]} if that is wrong")
    if kind == "date" and fmt == "%Y%m%d":
        return Column(name, "date", fmt, why="8-digit numbers read as dates (%Y%m%d); use integer if "
                                             "they are codes")
    return Column(name, kind, fmt)


def _judge_text(name: str, present: Sequence[Any], guessed: str) -> Column:
    """A text (or ``any``) column that is mostly something more specific: say so, keep text.
    ``any`` is load's guess when JSON nulls sit among the values: read them as what they are."""
    dates = [_date_format(v) for v in present]
    used = Counter(f for f in dates if f is not None)
    if None not in dates and len(used) > 1:
        shown = ", ".join(f"{f} ({n:,})" for f, n in used.most_common(3))
        return Column(name, "string", why=f"dates in {len(used)} formats: {shown}: read as text; write "
                                          "them one way, or parse them in a step")
    best = Counter(map(_kind_of, present))
    kind, count = next(((k, n) for k, n in best.most_common() if k != "string"), ("string", 0))
    if guessed == "any":
        final = kind if count == len(present) else "string"
        return Column(name, final, why=f"load guesses any (nulls among the values): read as {_word(final)}")
    if count * 2 >= len(present):
        others = [v for v in present if _kind_of(v) != kind]
        return Column(name, "string", why=f"mostly {kind} ({count:,} of {len(present):,}), but not "
                                          f"{_examples(others)}: read as text")
    return Column(name, "string")


def _looks_numeric(value: Any) -> bool:
    # Numbers, dates and times start with a digit, a sign or a point: other text is skipped
    # without trying each type (strptime is slow, and text columns are long).
    return not isinstance(value, str) or value[:1].isdigit() or value[:1] in "+-."


def _date_format(value: Any) -> str | None:
    if not isinstance(value, str) or not _DATE_LIKE.fullmatch(value):
        return None
    return next((f for f in _DATE_FORMATS if _fits("date", f, value)), None)


def _kind_of(value: Any) -> str:
    """The most specific type ``value`` fits (``string`` when none)."""
    kinds = _SPECIFIC if _looks_numeric(value) else ("boolean",)
    return next((k for k in kinds if _fits(k, "default", value)), "string")
