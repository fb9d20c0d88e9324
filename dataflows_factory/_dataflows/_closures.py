"""Recognising the closures dataflows' processor factories return, and their options."""

from __future__ import annotations

import inspect
from typing import Any

from dataflows.base.schema_validator import raise_exception, schema_validator

# ---------------------------------------------------------------- recognising closures

# kind -> (module, qualname) of the inner `func` that dataflows' processor factory returns.
_CLOSURES = {
    "sort_rows": ("dataflows.processors.sort_rows", "sort_rows.<locals>.func"),
    "join": ("dataflows.processors.join", "join_aux.<locals>.func"),
    "add_computed_field": ("dataflows.processors.add_computed_field",
                           "add_computed_field.<locals>.func"),
}


def closure_kind(step: Any) -> str | None:
    """``"sort_rows"``, ``"join"`` or ``"add_computed_field"`` when ``step`` is the closure
    that dataflows' factory of that name returns; ``None`` for anything else."""
    # These factories return an inner function named `func`, recognised by module and qualname.
    if not inspect.isfunction(step) or step.__name__ != "func":
        return None
    where = (getattr(step, "__module__", ""), step.__qualname__)
    return next((kind for kind, place in _CLOSURES.items() if place == where), None)


def _nonlocals(func: Any, depth: int = 3) -> dict[str, Any]:
    """Every variable the closures of ``func`` (and their inner closures) capture."""
    found: dict[str, Any] = {}
    for name, value in inspect.getclosurevars(func).nonlocals.items():
        found.setdefault(name, value)
        if depth and inspect.isfunction(value) and value.__closure__:
            for inner, inner_value in _nonlocals(value, depth - 1).items():
                found.setdefault(inner, inner_value)
    return found


def closure_options(step: Any, kind: str) -> dict[str, Any] | None:
    """The arguments the closure ``step`` of ``kind`` (see :func:`closure_kind`) was built
    with, as keyword arguments of its twin in ``processors``; ``None`` if not all are found."""
    try:
        if kind == "sort_rows":
            return _sort_options(step)
        if kind == "join":
            return _join_options(step)
        if kind == "add_computed_field":
            return _computed_options(step)
    except (TypeError, ValueError, AttributeError):
        return None  # a closure of another shape: the step stays dataflows' own
    return None


def _sort_options(step: Any) -> dict[str, Any] | None:
    # sort_rows.<locals>.func captures key_calc (a KeyCalc), resources and reverse; KeyCalc
    # keeps the user's callable, or its own closure over formatters/key_spec, in `calculator`.
    names = _nonlocals(step, depth=0)
    calculator = getattr(names.get("key_calc"), "calculator", None)
    if calculator is None:
        return None
    key: Any = calculator
    if inspect.isfunction(calculator) and calculator.__qualname__.startswith("KeyCalc."):
        inner = _nonlocals(calculator, depth=0)
        formatters, spec = inner.get("formatters"), inner.get("key_spec")
        # The template's literal text never reaches the key in dataflows: only {fields} do.
        key = "".join(formatters) if formatters else list(spec or [])
        if not key:
            return None
    return {"key": key, "resources": names.get("resources"), "reverse": bool(names.get("reverse"))}


def _computed_options(step: Any) -> dict[str, Any] | None:
    # add_computed_field.<locals>.func captures exactly its factory's args, kw and resources.
    names = _nonlocals(step, depth=0)
    if set(names) != {"args", "kw", "resources"}:
        return None
    return {"args": names["args"], "kw": names["kw"], "resources": names["resources"]}


_JOIN_NAMES = ("source_name", "target_name", "source_delete", "fields", "mode", "source_key",
               "target_key", "deduplication")


def _join_options(step: Any) -> dict[str, Any] | None:
    # join_aux.<locals>.func reaches join_aux's locals through its inner closures: the fixed
    # fields, the mode resolved from `full`, and the keys as join's KeyCalc (with .key_spec);
    # `db` (its KVFile index) proves it is the join whose shape this was verified on.
    names = _nonlocals(step)
    if any(n not in names for n in _JOIN_NAMES) or names.get("db") is None:
        return None
    target_key = names["target_key"]
    return {"source_name": names["source_name"], "source_key": names["source_key"].key_spec,
            "source_delete": names["source_delete"], "target_name": names["target_name"],
            "target_key": None if target_key is None else target_key.key_spec,
            "fields": names["fields"], "mode": names["mode"]}


def is_plain_schema_cast(caster: Any) -> bool:
    """Whether a ``load`` step's ``caster`` is the plain schema cast whose errors raise."""
    # load keeps its cast in a lambda `(res, it) -> schema_validator(res, it[, on_error=...])`
    # capturing at most on_error; only the default on_error (raise_exception) qualifies.
    if not inspect.isfunction(caster) or caster.__code__.co_argcount != 2:
        return False
    found = inspect.getclosurevars(caster)
    if found.globals.get("schema_validator") is not schema_validator or found.builtins:
        return False
    return not (set(found.nonlocals) - {"on_error"}) \
        and found.nonlocals.get("on_error", raise_exception) is raise_exception \
        and caster.__code__.co_names == ("schema_validator",)


def widen_strptime_cache() -> None:
    """Let the stdlib keep 64 compiled strptime patterns instead of 5 (no result changes)."""
    # Schema inference tries a dozen date/time patterns per sampled cell; the stdlib's private
    # _strptime._CACHE_MAX_SIZE (5) makes it recompile regexes ~70k times per load (~3 s).
    import _strptime  # type: ignore[import-not-found]

    if getattr(_strptime, "_CACHE_MAX_SIZE", 0) < 64:
        _strptime._CACHE_MAX_SIZE = 64

