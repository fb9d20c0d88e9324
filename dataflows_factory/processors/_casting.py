"""Compiled casting with exactly ``tableschema``'s results.

``Field.cast_value`` costs ~4 µs per value (missing-value scan, type dispatch, constraint
loop). For the common cases (default formats, no constraints) the code generated here keeps
a value that already has its field's type, and turns a CSV string into its value with the
very call tableschema makes (or one proved to agree with it); anything else goes to
``cast_value`` itself, so results and errors are always tableschema's own.

- :func:`fast_schema_validator`: dataflows' ``schema_validator`` (load's cast), one compiled
  function per schema; for a plain CSV it reads the records itself (:func:`csv_row_reader`).
- :func:`csv_row_reader`: a generator per schema building each row of a CSV file in one
  dict display (``{"id": int(a0), "city": a1, ...}``), used for loads and upstream datasets.
- :func:`row_caster` / :func:`kept`: the in-place cast and the "already cast" test the
  dumper's compiled writer uses.
"""

from __future__ import annotations

import csv
import itertools
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import date
from decimal import Decimal
from typing import Any

from dataflows.base.schema_validator import ValidationError
from tableschema import Schema
from tableschema.exceptions import CastError

from .._dataflows import preserves_missing_values
from .csv_reader import PlainCSVRows

__all__ = ["HandOver", "csv_row_reader", "fast_schema_validator", "field_casters", "kept",
           "row_caster", "strip_all", "strip_fields"]

Caster = Callable[[Any], Any]

_INTEGER = re.compile(r"-?[0-9]+").fullmatch
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?").fullmatch
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}").fullmatch
# Options that change how a field casts; a field carrying any of them takes the slow path.
_PLAIN_NUMBER = {"decimalChar": ".", "groupChar": "", "bareNumber": True}


def _simple(field: Any) -> bool:
    descriptor = field.descriptor
    if field.constraints:
        return False
    form = descriptor.get("format", "default")
    # The CSV dumper sets dates to "%Y-%m-%d": the same strptime pattern as "default".
    if form not in ("default", None) and not (field.type == "date" and form == "%Y-%m-%d"):
        return False
    return all(descriptor.get(k, v) == v for k, v in _PLAIN_NUMBER.items())


class _Fast:
    """A field's fast cast: the exact type kept as is, and an expression for a CSV string.

    ``keep`` is the type a value already has after its cast (kept without a call; ``None``
    stays ``None`` too, as ``cast_value`` keeps it for a field without constraints).
    ``from_str`` is a Python expression of the string ``{v}`` that either equals
    ``cast_value({v})`` or raises (the row then takes the exact path); ``None``: call the
    field's caster.
    """

    __slots__ = ("from_str", "keep", "missing")

    def __init__(self, keep: type, from_str: str | None, missing: frozenset[str]) -> None:
        self.keep = keep
        self.from_str = from_str
        self.missing = missing


def _caster(field: Any) -> tuple[Caster, _Fast | None]:
    # Imported here: adapters/__init__ imports step, which imports flow, which imports this.

    slow: Caster = field.cast_value
    if not _simple(field) or preserves_missing_values(field):
        return slow, None
    missing = frozenset(v for v in field.missing_values if isinstance(v, str))
    if len(missing) != len(field.missing_values):
        return slow, None
    kind = field.type

    if kind == "string":
        def cast_string(value: Any) -> Any:
            if type(value) is str:
                return None if value in missing else value
            return slow(value)
        # tableschema's default string format accepts every str.
        return cast_string, _Fast(str, "{v}", missing)
    if kind == "integer":
        def cast_integer(value: Any) -> Any:
            if type(value) is str:
                if value in missing:
                    return None
                if _INTEGER(value):
                    return int(value)
            elif type(value) is int:
                return value
            return slow(value)
        # tableschema (bareNumber) casts a str with int() itself: same value or an error.
        return cast_integer, _Fast(int, "int({v})", missing)
    if kind == "number":
        def cast_number(value: Any) -> Any:
            kind_ = type(value)
            if kind_ is str:
                if value in missing:
                    return None
                if _NUMBER(value):
                    return Decimal(value)
            elif kind_ is Decimal:
                return value
            elif kind_ is int or kind_ is float:
                # tableschema goes through str(): 1e+20 becomes Decimal('1E+20'), as here.
                return Decimal(str(value))
            return slow(value)
        # tableschema drops every whitespace character, then calls Decimal(): where
        # Decimal() accepts the string as it is (outer whitespace only), that is the value.
        return cast_number, _Fast(Decimal, "Decimal({v})", missing)
    if kind == "date":
        def cast_date(value: Any) -> Any:
            if type(value) is str:
                if value in missing:
                    return None
                if _DATE(value):
                    try:
                        return date.fromisoformat(value)
                    except ValueError:
                        pass  # an impossible date: let tableschema raise its CastError
            elif type(value) is date:
                return value
            return slow(value)
        # Of the strings fromisoformat accepts, the 10-character ones with "-" at index 7
        # are YYYY-MM-DD in ASCII digits, which strptime("%Y-%m-%d") reads the same.
        return cast_date, _Fast(date, "(iso_date({v}) if len({v}) == 10 and {v}[7] == '-' "
                                      "else not_fast({v}))", missing)
    if kind == "boolean":
        def cast_boolean(value: Any) -> Any:
            if type(value) is bool:
                return value
            return slow(value)
        return cast_boolean, _Fast(bool, None, missing)
    return slow, None


def _not_fast(value: Any) -> Any:
    raise ValueError(value)


# Field types whose cast value is never a str: load's stripper has nothing to do there.
_NEVER_STR = {"integer", "number", "date", "boolean"}
_WHITESPACE = frozenset(" \t\n\r")


def strip_fields(schema: Schema) -> list[str]:
    """The fields whose cast values may be strings, which ``load(strip=True)`` strips."""
    return [f.name for f in schema.fields if f.type not in _NEVER_STR]


def strip_all(row: dict[str, Any]) -> None:
    # dataflows' load.stripper, for rows with keys outside the schema.
    for key, value in row.items():
        if value and isinstance(value, str) and (value[-1] in _WHITESPACE or value[0] in _WHITESPACE):
            row[key] = value.strip()


def _strip(value: Any) -> Any:
    if value and isinstance(value, str) and (value[-1] in _WHITESPACE or value[0] in _WHITESPACE):
        return value.strip()
    return value


def _compile(source: str, namespace: dict[str, Any], name: str) -> Any:
    exec(compile(source, "<dff compiled caster>", "exec"), namespace)
    return namespace[name]


def _missing_test(fast: _Fast, value: str, index: int) -> str:
    # The common missingValues [""]: a str is missing exactly when it is empty.
    return f"not {value}" if fast.missing == {""} else f"{value} in M{index}"


def kept(fast: _Fast, value: str, index: int) -> str:
    """An expression: the non-None ``value`` is already cast (uses ``T{index}``/``M{index}``)."""
    test = f"type({value}) is T{index}"
    if fast.keep is str:
        test += f" and not ({_missing_test(fast, value, index)})"
    return test


def _row_caster(fields: list[tuple[str, Caster, _Fast | None]], strip: list[str] | None = None,
                ) -> Callable[[dict[str, Any]], None]:
    """One straight-line function casting a row's fields in schema order (no inner loop).

    A value that already has its field's cast type is kept without a call. With ``strip``
    (the fields whose values may be strings), it then strips them as ``load(strip=True)``
    does, in the same pass.
    """
    namespace: dict[str, Any] = {"WS": _WHITESPACE, "strip_all": strip_all, "ABSENT": _ABSENT}
    body = ""
    for i, (name, cast, fast) in enumerate(fields):
        namespace[f"c{i}"] = cast
        if fast is None:
            body += f"    row[{name!r}] = c{i}(get({name!r}))\n"
            continue
        namespace[f"T{i}"] = fast.keep
        namespace[f"M{i}"] = fast.missing
        # An absent key becomes None through the caster (the key is added), as before.
        body += (f"    v = get({name!r}, ABSENT)\n"
                 f"    if v is not None and not ({kept(fast, 'v', i)}):\n"
                 f"        row[{name!r}] = c{i}(None if v is ABSENT else v)\n")
    if strip is not None:
        body += f"    if len(row) != {len(fields)}:\n        strip_all(row)\n        return\n"
        for name in strip:
            body += (f"    v = row[{name!r}]\n"
                     "    if v and isinstance(v, str) and (v[-1] in WS or v[0] in WS):\n"
                     f"        row[{name!r}] = v.strip()\n")
    source = "def cast_row(row):\n    get = row.get\n" + (body or "    pass\n")
    return _compile(source, namespace, "cast_row")  # type: ignore[no-any-return]


def _record_items(fields: list[tuple[str, Caster, _Fast | None]], strip: list[str] | None,
                  namespace: dict[str, Any]) -> str:
    """The dict display of one cast (and stripped) row from the values ``a0, a1...``."""
    namespace.update(WS=_WHITESPACE, strip=_strip, Decimal=Decimal, iso_date=date.fromisoformat,
                     not_fast=_not_fast)
    strip_names = set(strip or ())
    items = []
    for i, (name, cast, fast) in enumerate(fields):
        value = f"a{i}"
        namespace[f"c{i}"] = cast
        if fast is None or fast.from_str is None:
            expr = f"c{i}({value})"
        else:
            namespace[f"M{i}"] = fast.missing
            expr = f"(None if {_missing_test(fast, value, i)} else {fast.from_str.format(v=value)})"
        if name in strip_names:
            if fast is not None and fast.keep is str:
                # Not missing, so not empty: strip only when an end is whitespace.
                expr = (f"(None if {_missing_test(fast, value, i)} else {value} "
                        f"if {value}[0] not in WS and {value}[-1] not in WS else {value}.strip())")
            else:
                expr = f"strip({expr})"
        items.append(f"{name!r}: {expr}")
    return "{" + ", ".join(items) + "}"


class HandOver(Exception):
    """Raised by a ``slow`` function of :func:`csv_row_reader`: read the rest elsewhere."""


def csv_row_reader(fields: list[tuple[str, Caster, _Fast | None]], strip: list[str] | None,
                   header: list[str] | None = None) -> Callable[..., Iterator[dict[str, Any]]]:
    """A compiled generator ``typed_rows(path, slow, hand_over)``: the rows of the CSV file at
    ``path`` (utf-8, excel dialect, header in row 1), each built and cast in one expression.

    A record the expression rejects goes to ``slow(record, index)``, which returns its row,
    raises (a ``ValidationError`` passes through) or raises :class:`HandOver`. At a record
    whose length differs from the fields' count, a read error, a header other than
    ``header`` (when given) or a ``HandOver``, the rest of the rows is
    ``hand_over(rows_done)``.
    """
    namespace: dict[str, Any] = {"reader": csv.reader, "HEADER": header,
                                 "PASS_ON": (ValidationError, CastError)}
    row = _record_items(fields, strip, namespace)
    unpack = ", ".join(f"a{i}" for i in range(len(fields))) + ","
    source = f"""def typed_rows(path, slow, hand_over):
    done = 0
    try:
        with open(path, encoding="utf-8") as chars:
            records = reader(chars)
            head = next(records)
            if HEADER is not None and head != HEADER:
                raise HandOver("header")
            for record in records:
                if len(record) != {len(fields)}:
                    break
                try:
                    {unpack} = record
                    row = {row}
                except Exception:
                    row = slow(record, done)
                yield row
                done += 1
            else:
                return
    except PASS_ON:
        raise
    except Exception:
        pass  # the exact reader re-reads up to here and decides (a row, or its own error)
    yield from hand_over(done)
"""
    namespace["HandOver"] = HandOver
    return _compile(source, namespace, "typed_rows")  # type: ignore[no-any-return]


_ABSENT = object()


def field_casters(schema: Schema) -> list[tuple[str, Caster, _Fast | None]]:
    """``(name, caster, fast)`` per field of ``schema``, for the compiled functions here."""
    return [(f.name, *_caster(f)) for f in schema.fields]


def row_caster(schema: Schema) -> Callable[[dict[str, Any]], None]:
    """A compiled in-place cast of a row's fields (``fast_schema_validator``'s, per row)."""
    return _row_caster(field_casters(schema))


def fast_schema_validator(resource: Any, iterator: Iterable[dict[str, Any]],
                          strip: bool = False) -> Iterator[dict[str, Any]]:
    """``dataflows``' ``schema_validator(resource, iterator)`` (errors raise), compiled.

    ``strip=True`` also does ``load``'s stripping of each row right after its cast (the
    order ``load`` applies them in).

    Like the original, the schema is read when the first row is requested, so changes that
    later steps make to the descriptor before rows flow are seen.
    """
    if hasattr(resource, "schema") and hasattr(resource, "descriptor"):
        schema = resource.schema
        name = resource.descriptor["name"]
    else:
        schema = Schema(resource.get("schema", {}))
        name = resource["name"]
    fields = field_casters(schema)
    names = [f.name for f in schema.fields]
    strip_names: list[str] | None = None
    if strip and len(set(names)) == len(names):
        strip_names = strip_fields(schema)
        cast_row = _row_caster(fields, strip_names)
    else:
        cast_row = _row_caster(fields)
        if strip:
            plain = cast_row

            def cast_row(row: dict[str, Any]) -> None:
                plain(row)
                strip_all(row)
    if isinstance(iterator, PlainCSVRows) and iterator.headers == names \
            and (strip_names is not None or not strip):
        yield from _typed_records(name, iterator, csv_row_reader(fields, strip_names), cast_row)
        return
    index = -1
    try:
        for index, row in enumerate(iterator):  # noqa: B007 (index is used in the handler)
            cast_row(row)
            yield row
    except CastError as error:
        raise ValidationError(name, row, index, error) from error


def _typed_records(name: str, source: PlainCSVRows, read: Callable[..., Iterator[dict[str, Any]]],
                   cast_row: Callable[[dict[str, Any]], None]) -> Iterator[dict[str, Any]]:
    """Rows of a plain CSV built and cast by ``read`` (:func:`csv_row_reader`); a record that
    needs the exact path, and tabulator's rows after a hand-over, go through ``cast_row``."""
    headers = source.headers

    def slow(record: list[str], index: int) -> dict[str, Any]:
        row = dict(zip(headers, record, strict=True))
        try:
            cast_row(row)
        except CastError as error:
            raise ValidationError(name, row, index, error) from error
        return row

    def hand_over(done: int) -> Iterator[dict[str, Any]]:
        index = done - 1
        row: dict[str, Any] = {}
        try:
            for index, row in enumerate(itertools.islice(source.fallback, done, None), start=done):  # noqa: B007
                cast_row(row)
                yield row
        except CastError as error:
            raise ValidationError(name, row, index, error) from error

    return read(source.path, slow, hand_over)
