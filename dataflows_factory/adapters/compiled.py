"""Compiled plans: a factory's plan written to JSON once (``dff compile``), read by DAG files.

A scheduler parses its DAG files every few seconds. From a compiled plan, a DAG file imports
neither the factory nor ``dataflows`` (2-3 s each time): the plan holds the flows, their
dependencies, retries, tags, descriptions, partitions, where the factory lives and a hash of
the code it was compiled from. The task that runs a flow loads the factory anyway; it first
checks that hash (:func:`check_plan`), so a plan that fell behind its code fails at once
with one line that says to compile again, instead of running flows the plan does not know.

Reading a plan (:func:`read_plan`) imports nothing but this package's plan module.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..errors import FactoryError, FactoryRefError
from .plan import Plan

if TYPE_CHECKING:
    from ..factory import Factory
    from ..store import Store

__all__ = ["FORMAT", "StalePlanError", "check_plan", "compile_plan", "read_plan", "write_plan"]

FORMAT = "dataflows-factory/plan"
VERSION = 1


class StalePlanError(FactoryError, RuntimeError):
    """The factory's code changed since its plan was compiled: compile it again."""


def compile_plan(factory: Factory, *, select: str | Iterable[str] | None = None,
                 store: str | os.PathLike[str] | Store | None = None) -> Plan:
    """The factory's plan with each flow's code version and the hash of them all.

    The factory must be importable by reference (a module-level name in a file or module):
    the tasks that run the plan's flows load it from there.
    """
    plan = factory.plan(select=select, store=store)
    if plan.factory_ref is None:
        raise FactoryRefError(
            f"factory {factory.name!r} cannot be compiled: the tasks that run a compiled plan "
            "import the factory by reference; define it at module level in a file")
    steps = tuple(replace(step, code_version=factory.flows[step.name].code_version)
                  for step in plan.steps)
    compiled = replace(plan, steps=steps)
    return replace(compiled, code_hash=_code_hash(compiled))


def check_plan(plan: Plan, factory: Factory) -> None:
    """Raise :class:`StalePlanError` when ``factory`` is no longer the code ``plan`` came from.

    A plan that was not compiled (no code hash) passes: it was built from the factory itself.
    """
    if not plan.code_hash:
        return
    now = compile_plan(factory, select=list(plan.names) or None, store=plan.store) \
        if all(name in factory.flows for name in plan.names) else None
    if now is not None and now.code_hash == plan.code_hash:
        return
    raise StalePlanError(
        f"the compiled plan of factory {plan.factory!r} no longer matches its code "
        f"({_what_changed(plan, factory)}): re-run `dff compile {plan.factory_ref}` "
        "and deploy the new plan")


def write_plan(plan: Plan, path: str | os.PathLike[str]) -> None:
    """Write ``plan`` as JSON (written whole, then moved into place)."""
    # The units (flows, partitions' parts, merges) and their deps, for readers other than
    # this package (a deployment script, a catalog); read_plan derives them again.
    units = [{"id": unit.id, "flow": unit.flow, "partition": unit.partition, "deps": list(unit.deps)}
             for unit in plan.units()]
    text = json.dumps({"format": FORMAT, "version": VERSION, **plan.to_dict(), "units": units},
                      indent=2) + "\n"
    target = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(target))
    os.makedirs(folder, exist_ok=True)
    temporary = f"{target}.tmp{os.getpid()}"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, target)


def read_plan(path: str | os.PathLike[str]) -> Plan:
    """Read a plan that ``dff compile`` wrote; a file that is not one is a :class:`FactoryRefError`."""
    shown = os.fspath(path)
    try:
        with open(shown, encoding="utf-8") as handle:
            data: Any = json.load(handle)
    except FileNotFoundError:
        raise FactoryRefError(f"compiled plan {shown!r} does not exist: write it with "
                              f"`dff compile FILE -o {shown}`") from None
    except (OSError, ValueError) as error:
        raise FactoryRefError(f"compiled plan {shown!r} cannot be read: {error}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise FactoryRefError(f"{shown!r} is not a plan written by `dff compile`")
    if data.get("version") != VERSION:
        raise FactoryRefError(
            f"compiled plan {shown!r} has format version {data.get('version')!r}; this "
            f"dataflows-factory reads version {VERSION}: compile it again with this version")
    try:
        return Plan.from_dict(data)
    except (KeyError, TypeError, ValueError) as error:
        raise FactoryRefError(f"compiled plan {shown!r} is damaged ({type(error).__name__}: "
                              f"{error}): compile it again") from None


def _code_hash(plan: Plan) -> str:
    # The code and wiring of each flow; not the partitions (they follow the data, and a new
    # file would otherwise make every task fail) and not the store (a deployment's choice).
    wiring = [[s.name, list(s.inputs), list(s.after), s.code_version] for s in plan.steps]
    text = json.dumps([plan.factory, wiring])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _what_changed(plan: Plan, factory: Factory) -> str:
    missing = [name for name in plan.names if name not in factory.flows]
    if missing:
        return f"flow(s) {missing} no longer exist"
    changed = [step.name for step in plan.steps
               if factory.flows[step.name].code_version != step.code_version]
    if changed:
        return f"code of flow(s) {changed} changed"
    return "dependencies between its flows changed"
