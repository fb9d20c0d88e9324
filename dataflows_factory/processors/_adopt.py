"""Swap standard dataflows steps for the fast paths when their options are supported.

``normalize_steps`` calls :func:`accelerate` on every step of a factory's flow and
``run_step`` dumps through :func:`path_dumper`. Anything not recognised exactly is returned
unchanged, so the fast paths are an optimisation, never a change of meaning. Set
``DFF_FAST_PATHS=0`` to run plain dataflows (benchmarks compare both).
"""

from __future__ import annotations

import inspect
import os
from typing import Any

from dataflows import DataStreamProcessor, load
from dataflows import dump_to_path as plain_dump_to_path
from dataflows.base.schema_validator import raise_exception, schema_validator

from ._casting import fast_schema_validator
from .csv_reader import install as install_csv_reader

__all__ = ["accelerate", "enabled", "path_dumper"]


def enabled() -> bool:
    """Whether fast paths are on (``DFF_FAST_PATHS`` unset, or not ``0``/``false``/``no``)."""
    return os.environ.get("DFF_FAST_PATHS", "1").strip().lower() not in ("0", "false", "no", "off")


def path_dumper(out_path: str) -> Any:
    """The dumper ``run_step`` writes a dataset with: the fast one unless disabled."""
    if not enabled():
        return plain_dump_to_path(out_path)
    from .dump import dump_to_path

    return dump_to_path(out_path)


def accelerate(step: Any) -> Any:
    """``step``, or an equivalent fast step (same options, same output)."""
    if not enabled():
        return step
    if isinstance(step, DataStreamProcessor):
        _pass_rows_through(step)
    if type(step) is load:
        _fast_cast(step)
        install_csv_reader(step)
        return step
    if not inspect.isfunction(step) or step.__name__ != "func":
        return step
    module, qualname = getattr(step, "__module__", ""), step.__qualname__
    if module == "dataflows.processors.sort_rows" and qualname == "sort_rows.<locals>.func":
        return _sort(step) or step
    if module == "dataflows.processors.join" and qualname == "join_aux.<locals>.func":
        return _join(step) or step
    if module == "dataflows.processors.add_computed_field" \
            and qualname == "add_computed_field.<locals>.func":
        return _computed(step) or step
    return step


def _pass_through(resource: Any) -> Any:
    return resource


def _pass_rows_through(step: Any) -> None:
    # A processor that changes no row (load, for the resources before its own) re-yields
    # every upstream row through DataStreamProcessor.process_resource, one generator step
    # and one process_row call per row. Handing the upstream resource on unchanged yields
    # the very same rows (dataflows re-wraps it with this step's descriptor).
    kind = type(step)
    if kind.process_resource is DataStreamProcessor.process_resource \
            and kind.process_row is DataStreamProcessor.process_row:
        step.process_resource = _pass_through


def _fast_cast(step: Any) -> None:
    # Only the plain schema cast whose errors raise (load's CAST_WITH_SCHEMA with the
    # default on_error, or core's cast-by-default) has a compiled twin.
    caster = step.caster
    if not inspect.isfunction(caster) or caster.__code__.co_argcount != 2:
        return
    found = inspect.getclosurevars(caster)
    if found.globals.get("schema_validator") is not schema_validator or found.builtins:
        return
    if set(found.nonlocals) - {"on_error"} or found.nonlocals.get("on_error", raise_exception) \
            is not raise_exception or caster.__code__.co_names != ("schema_validator",):
        return
    if step.strip and not step.extract_missing_values:
        # Strip in the same compiled pass as the cast (load runs caster, then stripper).
        step.strip = False
        step.caster = lambda res, it: fast_schema_validator(res, it, strip=True)
    else:
        step.caster = lambda res, it: fast_schema_validator(res, it)
    _widen_strptime_cache()


def _widen_strptime_cache() -> None:
    # Schema inference tries a dozen date/time patterns per sampled cell; the stdlib keeps
    # only 5 compiled strptime patterns, so inference recompiles regexes ~70k times per
    # load (~3 s). A larger cache changes no result.
    import _strptime  # type: ignore[import-not-found]

    if getattr(_strptime, "_CACHE_MAX_SIZE", 0) < 64:
        _strptime._CACHE_MAX_SIZE = 64


def _nonlocals(func: Any, depth: int = 3) -> dict[str, Any]:
    """Every variable the closures of ``func`` (and their inner closures) capture."""
    found: dict[str, Any] = {}
    for name, value in inspect.getclosurevars(func).nonlocals.items():
        found.setdefault(name, value)
        if depth and inspect.isfunction(value) and value.__closure__:
            for inner, inner_value in _nonlocals(value, depth - 1).items():
                found.setdefault(inner, inner_value)
    return found


def _sort(step: Any) -> Any:
    from .sort import sort_rows

    names = _nonlocals(step, depth=0)
    calc = names.get("key_calc")
    calculator = getattr(calc, "calculator", None)
    if calculator is None:
        return None
    if inspect.isfunction(calculator) and calculator.__qualname__.startswith("KeyCalc."):
        inner = _nonlocals(calculator, depth=0)
        formatters, spec = inner.get("formatters"), inner.get("key_spec")
        # The template's literal text never reaches the key in dataflows: only {fields} do.
        key: Any = "".join(formatters) if formatters else list(spec or [])
        if not key:
            return None
    else:
        key = calculator
    return sort_rows(key, resources=names.get("resources"), reverse=bool(names.get("reverse")))


def _computed(step: Any) -> Any:
    from .computed import add_computed_field

    names = _nonlocals(step, depth=0)
    if set(names) != {"args", "kw", "resources"}:
        return None
    return add_computed_field(*names["args"], resources=names["resources"], **names["kw"])


def _join(step: Any) -> Any:
    from .join import join_aux

    names = _nonlocals(step)
    needed = ("source_name", "target_name", "source_delete", "fields", "mode", "source_key",
              "target_key", "deduplication")
    if any(n not in names for n in needed) or names.get("db") is None:
        return None
    source_key, target_key = names["source_key"], names["target_key"]
    return join_aux(names["source_name"], source_key.key_spec, names["source_delete"],
                    names["target_name"], None if target_key is None else target_key.key_spec,
                    names["fields"], None, names["mode"])
