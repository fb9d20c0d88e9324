"""Swap standard dataflows steps for the fast paths when their options are supported.

``normalize_steps`` calls :func:`accelerate` on every step of a factory's flow and
``run_step`` dumps through :func:`path_dumper`. Anything not recognised exactly is returned
unchanged, so the fast paths are an optimisation, never a change of meaning. Set
``DFF_FAST_PATHS=0`` to run plain dataflows (benchmarks compare both).
"""

from __future__ import annotations

import os
from typing import Any

from dataflows import DataStreamProcessor, load
from dataflows import dump_to_path as plain_dump_to_path

from .. import _dataflows
from .._dataflows import supported
from ._casting import fast_schema_validator
from .csv_reader import install as install_csv_reader

__all__ = ["accelerate", "enabled", "path_dumper"]


def enabled() -> bool:
    """Whether fast paths are on: ``DFF_FAST_PATHS`` unset (or not ``0``/``false``/``no``/``off``)
    and the installed dataflows, tabulator, tableschema and datapackage are versions the fast
    paths were verified with (otherwise they warn once and stay off)."""
    if os.environ.get("DFF_FAST_PATHS", "1").strip().lower() in ("0", "false", "no", "off"):
        return False

    return supported()


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
        _dataflows.pass_rows_through(step)
    if type(step) is load:
        _dataflows.guess_types_faster()
        _fast_cast(step)
        install_csv_reader(step)
        return step
    kind = _dataflows.closure_kind(step)
    options = _dataflows.closure_options(step, kind) if kind is not None else None
    if options is None:
        return step
    if kind == "sort_rows":
        from .sort import sort_rows

        return sort_rows(**options)
    if kind == "join":
        from .join import join_aux

        return join_aux(full=None, **options)
    from .computed import add_computed_field

    return add_computed_field(*options["args"], resources=options["resources"], **options["kw"])


def _fast_cast(step: Any) -> None:
    # Only the plain schema cast whose errors raise (load's CAST_WITH_SCHEMA with the
    # default on_error, or core's cast-by-default) has a compiled twin.

    if not _dataflows.is_plain_schema_cast(step.caster):
        return
    if step.strip and not step.extract_missing_values:
        # Strip in the same compiled pass as the cast (load runs caster, then stripper).
        step.strip = False
        step.caster = lambda res, it: fast_schema_validator(res, it, strip=True)
    else:
        step.caster = lambda res, it: fast_schema_validator(res, it)
    _dataflows.widen_strptime_cache()
