"""Pre-compiled per-field casters with exactly ``tableschema``'s results.

``Field.cast_value`` costs ~4 µs per value (missing-value scan, type dispatch, constraint
loop). For the common cases (default formats, no constraints) a caster here checks the
value's shape first and converts it directly; anything else goes to ``cast_value`` itself,
so results and errors are always tableschema's own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from datetime import date
from decimal import Decimal
from typing import Any

from dataflows.base.schema_validator import ValidationError
from tableschema import Schema
from tableschema.exceptions import CastError

__all__ = ["compile_casters", "fast_schema_validator"]

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


def _caster(field: Any) -> Caster:
    slow: Caster = field.cast_value
    if not _simple(field) or field._Field__preserve_missing_values:
        return slow
    missing = frozenset(v for v in field.missing_values if isinstance(v, str))
    if len(missing) != len(field.missing_values):
        return slow
    kind = field.type

    if kind == "string":
        def cast_string(value: Any) -> Any:
            if type(value) is str:
                return None if value in missing else value
            return slow(value)
        return cast_string
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
        return cast_integer
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
        return cast_number
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
        return cast_date
    if kind == "boolean":
        def cast_boolean(value: Any) -> Any:
            if type(value) is bool:
                return value
            return slow(value)
        return cast_boolean
    return slow


def compile_casters(schema: Schema, field_names: Iterable[str] | None = None) -> list[tuple[str, Caster]]:
    """``(name, caster)`` for each field of ``schema`` (or of ``field_names``), in order."""
    names = None if field_names is None else set(field_names)
    return [(f.name, _caster(f)) for f in schema.fields if names is None or f.name in names]


# Field types whose cast value is never a str: load's stripper has nothing to do there.
_NEVER_STR = {"integer", "number", "date", "boolean"}
_WHITESPACE = frozenset(" \t\n\r")


def _strip_all(row: dict[str, Any]) -> None:
    # dataflows' load.stripper, for rows with keys outside the schema.
    for key, value in row.items():
        if value and isinstance(value, str) and (value[-1] in _WHITESPACE or value[0] in _WHITESPACE):
            row[key] = value.strip()


def _row_caster(casters: list[tuple[str, Caster]], strip: list[str] | None = None,
                ) -> Callable[[dict[str, Any]], None]:
    """One straight-line function casting a row's fields in schema order (no inner loop).

    With ``strip`` (the fields whose values may be strings), it then strips them as
    ``load(strip=True)`` does, in the same pass.
    """
    namespace: dict[str, Any] = {f"c{i}": cast for i, (_, cast) in enumerate(casters)}
    namespace.update(WS=_WHITESPACE, strip_all=_strip_all)
    body = "".join(f"    row[{name!r}] = c{i}(get({name!r}))\n" for i, (name, _) in enumerate(casters))
    if strip is not None:
        body += f"    if len(row) != {len(casters)}:\n        strip_all(row)\n        return\n"
        for name in strip:
            body += (f"    v = row[{name!r}]\n"
                     "    if v and isinstance(v, str) and (v[-1] in WS or v[0] in WS):\n"
                     f"        row[{name!r}] = v.strip()\n")
    source = "def cast_row(row):\n    get = row.get\n" + (body or "    pass\n")
    exec(compile(source, "<dff compiled caster>", "exec"), namespace)
    return namespace["cast_row"]  # type: ignore[no-any-return]


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
    casters = compile_casters(schema)
    names = [f.name for f in schema.fields]
    if strip and len(set(names)) == len(names):
        kinds = {f.name: f.type for f in schema.fields}
        cast_row = _row_caster(casters, [n for n in names if kinds[n] not in _NEVER_STR])
    else:
        cast_row = _row_caster(casters)
        if strip:
            plain = cast_row

            def cast_row(row: dict[str, Any]) -> None:
                plain(row)
                _strip_all(row)
    index = -1
    try:
        for index, row in enumerate(iterator):  # noqa: B007 (index is used in the handler)
            cast_row(row)
            yield row
    except CastError as error:
        raise ValidationError(name, row, index, error) from error
