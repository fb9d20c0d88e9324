"""``join`` / ``join_with_self`` with a dict index instead of two KVFiles.

The logic is dataflows' ``join_aux`` step for step (same descriptors, same row order: keys
are visited in sorted order where dataflows iterates its KVFile), with the index in a dict.
Values are copied where dataflows' KVFile would have handed out a fresh unpickled copy.
"""

from __future__ import annotations

import collections
import string
import warnings
from collections.abc import Iterator
from typing import Any

from dataflows.processors.join import AGGREGATORS, KeyCalc, fix_fields

from ._join_descriptor import process_datapackage

__all__ = ["join", "join_with_self"]


class _Keyed(dict):  # type: ignore[type-arg]
    """``row`` plus ``'#'`` for ``str.format_map``, without copying the row."""

    __slots__ = ("number",)
    number: int

    def __missing__(self, key: str) -> Any:
        if key == "#":
            return self.number
        raise KeyError(key)


def _key_function(calc: KeyCalc) -> Any:
    spec = calc.key_spec

    def key(row: dict[str, Any], number: int) -> str:
        if "#" in row:  # dataflows' {**row, '#': n}: the row number wins
            return str(spec.format(**{**row, "#": number}))
        view = _Keyed(row)
        view.number = number
        return str(spec.format_map(view))

    return key


def _key_expression(spec: str) -> str | None:
    """``spec.format(**{**row, '#': number})`` as an expression of ``row`` and ``number``,
    when every replacement field is a plain name (else ``None``: the general key function)."""
    try:
        parsed = list(string.Formatter().parse(spec))
    except ValueError:
        return None
    parts = []
    for i, (literal, name, format_spec, conversion) in enumerate(parsed):
        if literal:
            parts.append(repr(literal))
        if name is None:
            continue
        if conversion or not name or name.isdigit() or any(c in name for c in ".[{}") \
                or "{" in (format_spec or ""):
            return None
        value = "number" if name == "#" else f"row[{name!r}]"
        if format_spec:
            parts.append(f"format({value}, {format_spec!r})")
        else:  # format(v, "") of a str is the str itself
            parts.append(f"(k{i} if type(k{i} := {value}) is str else format(k{i}, ''))")
    return " + ".join(parts) if parts else "''"


# Aggregates as expressions of the index's value ``c`` (not None) and the row's ``v`` (not
# None), equal to dataflows' lambdas (``max(new, curr)`` keeps ``new`` unless ``curr > new``).
_INLINE = {
    "sum": "v + c", "max": "c if c > v else v", "min": "c if c < v else v", "first": "c", "last": "v",
}


def _compile_indexer(key_of: Any, key_expr: str | None, plan: list[tuple[str, str, str]],
                     full_outer: bool, key_list: list[str]) -> Any:
    """``index_rows(resource, db, used)``: the indexer loop for one join, as straight-line code."""
    namespace: dict[str, Any] = {"key_of": key_of, "KEYS": key_list}
    numbered = key_expr is None or "number" in key_expr
    lines = ["def index_rows(resource, db, used):",
             "    get = db.get",
             "    for number, row in enumerate(resource, start=1):" if numbered else
             "    for row in resource:",
             f"        key = {key_expr or 'key_of(row, number)'}",
             "        current = get(key)",
             "        if current is None:",
             "            current = db[key] = {}"]
    for i, (field, name, aggregate) in enumerate(plan):
        namespace[f"f{i}"] = AGGREGATORS[aggregate].func
        if aggregate == "count":
            # dataflows' "curr + 1 if curr is not None else 1": a count is never None here.
            lines.append(f"        current[{field!r}] = current.get({field!r}, 0) + 1")
            continue
        inline = _INLINE.get(aggregate)
        update = f"(({inline}) if c is not None else v)" if inline else f"f{i}(c, v)"
        lines += [f"        v = row.get({name!r})",
                  "        if v is not None:",
                  f"            c = current.get({field!r})",
                  f"            current[{field!r}] = {update}",
                  f"        elif {field!r} not in current:",
                  f"            current[{field!r}] = None"]
    if full_outer:
        lines.append("        current['__key__'] = [row.get(f) for f in KEYS]")
    lines += ["        used[key] = False", "        yield row", ""]
    exec(compile("\n".join(lines), "<dff compiled join index>", "exec"), namespace)
    return namespace["index_rows"]


def join_aux(source_name: str, source_key: Any, source_delete: bool, target_name: str,
             target_key: Any, fields: dict[str, Any], full: bool | None, mode: str | None) -> Any:
    deduplication = target_key is None
    state = {"fields": fix_fields(fields)}
    unknown = {name: spec["aggregate"] for name, spec in state["fields"].items()
               if spec["aggregate"] not in AGGREGATORS}
    if unknown:  # dataflows would take a misspelt aggregate for "any", silently
        raise ValueError("join: " + ", ".join(f"field {name!r} has aggregate {aggregate!r}"
                                              for name, aggregate in unknown.items())
                         + f"; the aggregates are {sorted(AGGREGATORS)}")
    source_calc = KeyCalc(source_key)
    target_calc = KeyCalc(target_key) if target_key is not None else None
    source_of = _key_function(source_calc)
    target_of = _key_function(target_calc) if target_calc is not None else None
    db: dict[str, dict[str, Any]] = {}
    used: dict[str, bool] = {}
    if full is not None:
        warnings.warn('For the `join` processor the `full=True` flag is deprecated. '
                      'Please use the "mode" parameter instead.', UserWarning, stacklevel=2)
        mode = "half-outer" if full else "inner"
    if mode not in ("inner", "half-outer", "full-outer"):
        raise ValueError(f"join: mode must be inner, half-outer or full-outer, not {mode!r}")
    key_list = source_calc.key_list

    def indexer(resource: Any) -> Iterator[Any]:
        plan = [(f, spec["name"], spec["aggregate"]) for f, spec in state["fields"].items()]
        index_rows = _compile_indexer(source_of, _key_expression(source_calc.key_spec), plan,
                                      mode == "full-outer", key_list)
        return index_rows(resource, db, used)  # type: ignore[no-any-return]

    def finalise(key: str) -> dict[str, Any]:
        fields = state["fields"]
        return {k: AGGREGATORS[fields[k]["aggregate"]].finaliser(v)
                for k, v in _fresh(db[key]).items() if k in fields}

    def create_extra_by_key(key: str) -> dict[str, Any]:
        stored = _fresh(db[key])
        key_values = stored.pop("__key__", None)
        fields = state["fields"]
        extra = {k: AGGREGATORS[fields[k]["aggregate"]].finaliser(v)
                 for k, v in stored.items() if k in fields}
        if key_values and target_calc is not None:
            for k, v in zip(target_calc.key_list, key_values, strict=False):
                extra[k] = v
        return extra

    def process_target(resource: Any) -> Iterator[Any]:
        fields = state["fields"]
        if deduplication:
            collections.deque(indexer(resource), maxlen=0)
            for key in sorted(db):
                row = {f: None for f in fields}
                row.update(finalise(key))
                yield row
            return
        assert target_of is not None
        for row_number, row in enumerate(resource, start=1):
            key = target_of(row, row_number)
            if key in db:
                extra = create_extra_by_key(key)
                used[key] = True
            else:
                if mode == "inner":
                    continue
                extra = {k: row.get(k) for k in fields}
            row.update(extra)
            yield row
        if mode == "full-outer":
            for key in sorted(used):
                if used[key] is False:
                    yield create_extra_by_key(key)

    def new_resource_iterator(resource_iterator: Any) -> Iterator[Any]:
        has_index = False
        for resource in resource_iterator:
            name = resource.res.name
            if name == source_name:
                has_index = True
                if source_delete:
                    collections.deque(indexer(resource), maxlen=0)
                else:
                    yield indexer(resource)
                if deduplication:
                    yield process_target(resource)
            elif name == target_name:
                if not has_index:
                    raise ValueError(f"join: source resource {source_name!r} must come before "
                                     f"target resource {target_name!r}")
                yield process_target(resource)
            else:
                yield resource

    def func(package: Any) -> Iterator[Any]:
        process_datapackage(package.pkg.descriptor, state, source_name, target_name,
                            source_delete, deduplication)
        yield package.pkg
        yield from new_resource_iterator(package)
        db.clear()
        used.clear()

    return func


def _fresh(value: dict[str, Any]) -> dict[str, Any]:
    # dataflows reads index entries back from a KVFile, i.e. as fresh copies; aggregates
    # that are containers (median/array/set/counters) must not be shared with the index.
    return {k: (v.copy() if isinstance(v, list | set | dict) else v) for k, v in value.items()}


def join(source_name: str, source_key: Any, target_name: str, target_key: Any,
         fields: dict[str, Any] | None = None, full: bool | None = None, mode: str = "half-outer",
         source_delete: bool = True) -> Any:
    """Join like ``dataflows.join`` (same arguments, modes, aggregates and output), in memory.

    The index of the source resource is a dict (one entry per distinct key)::

        join("cities", ["country"], "countries", ["code"],
             fields={"cities": {"name": "name", "aggregate": "count"}})
    """
    return join_aux(source_name, source_key, source_delete, target_name, target_key,
                    {} if fields is None else fields, full, mode)


def join_with_self(resource_name: str, join_key: Any, fields: dict[str, Any]) -> Any:
    """Group a resource by ``join_key`` and aggregate, like ``dataflows.join_with_self``."""
    return join_aux(resource_name, join_key, True, resource_name, None, fields, True, None)
