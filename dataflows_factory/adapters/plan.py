"""The Plan: frozen, JSON-serialisable step records that adapters compile, the units they
run, and the Schedule that says what may run and what a failure blocks.

A plan runs nothing and reads no data: building one (:meth:`Factory.plan`) is cheap enough
for a DAG file parsed every few seconds by a scheduler. Adapters compile plans, never
factories. This module knows nothing of the model: the model builds plans, not the reverse.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from ..errors import SelectionError
from ..partitions import partition_key

__all__ = ["Plan", "Schedule", "StepPlan", "Unit", "unit_id"]


@dataclass(frozen=True)
class StepPlan:
    """One flow as a step: what it waits for, what it writes, how often to retry."""

    name: str
    inputs: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    retries: int = 0
    retry_delay: float = 0.0
    description: str = ""
    tags: tuple[str, ...] = ()
    output: str = ""
    partitions: tuple[str, ...] = ()
    # Why a partitioned flow has no partitions now (its files() pattern matches no file):
    # the plan still holds it, and only running it fails, with this message.
    partitions_error: str = ""
    # A hash of the flow's code and parameters; set in a compiled plan (``dff compile``),
    # where it lets a worker tell that the code changed since, and Dagster show it.
    code_version: str = ""

    @property
    def upstream(self) -> tuple[str, ...]:
        return self.inputs + tuple(a for a in self.after if a not in self.inputs)

    @property
    def partitioned(self) -> bool:
        return bool(self.partitions)

    @property
    def partition_keys(self) -> dict[str, str]:
        """Partition value -> its path- and id-safe key."""
        return {value: partition_key(value) for value in self.partitions}


@dataclass(frozen=True)
class Plan:
    """Steps of a factory in topological order, plus where they read and write.

    ``upstream`` of a step may name flows outside a selected plan: those datasets are read
    from the store as they are. :meth:`edges` gives only the edges inside the plan.
    """

    factory: str
    store: str
    steps: tuple[StepPlan, ...]
    factory_ref: str | None = None
    description: str = ""
    selected_from: tuple[str, ...] = field(default=(), compare=False)
    # Set by ``dff compile`` (:func:`~dataflows_factory.adapters.compiled.compile_plan`):
    # a hash of the flows' code and wiring, which the task checks before it runs a flow.
    code_hash: str = ""

    # -- queries --------------------------------------------------------------------------

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(step.name for step in self.steps)

    def step(self, name: str) -> StepPlan:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(f"plan of factory {self.factory!r} has no step {name!r}")

    def edges(self) -> list[tuple[str, str]]:
        """``(upstream, downstream)`` pairs between steps of this plan."""
        names = set(self.names)
        return [(up, step.name) for step in self.steps for up in step.upstream if up in names]

    def downstream(self, name: str) -> list[str]:
        """Every step that depends, directly or not, on ``name``, in plan order."""
        found = {name}
        for step in self.steps:
            if any(up in found for up in step.upstream):
                found.add(step.name)
        return [n for n in self.names if n in found and n != name]

    def units(self) -> tuple[Unit, ...]:
        """What to run, in a valid order: a flow, or a partitioned flow's parts then their merge.

        The merge keeps the flow's name as its id, so the units downstream depend on it
        exactly as on an unpartitioned flow. Upstream flows outside the plan are not deps:
        their stored datasets are read as they are.

        >>> [u.id for u in sales_plan.units()]            # doctest: +SKIP
        ['sales[raw/eu.csv]', 'sales[raw/us.csv]', 'sales', 'total']
        """
        names = set(self.names)
        units: list[Unit] = []
        for step in self.steps:
            deps = tuple(up for up in step.upstream if up in names)
            parts = [Unit(unit_id(step.name, value), step, value, deps) for value in step.partitions]
            units += parts
            units.append(Unit(step.name, step, None, tuple(p.id for p in parts) or deps))
        return tuple(units)

    def select(self, selection: str | Iterable[str] | None) -> Plan:
        """A sub-plan: ``name``, ``+name`` (with upstream), ``name+`` (with downstream), ``tag:x``.

        Terms are separated by spaces or commas; the result is their union. ``None`` selects
        every step; a selection that is given but holds no term (``""``, ``","``, ``[]``) is a
        :class:`SelectionError`, never "everything" (an unset ``$FLOW`` in ``--select $FLOW``).
        """
        if selection is None:
            return self
        if not isinstance(selection, str):
            selection = list(selection)  # an iterator is read once, and shown if empty
        terms = _terms(selection)
        if not terms:
            raise SelectionError(
                f"empty selection {selection!r}: name flows (name, +name, name+ or tag:x, "
                f"separated by commas or spaces), or select nothing to run every flow; "
                f"known flows: {sorted(self.names)}")
        by_name = {step.name: step for step in self.steps}
        chosen: set[str] = set()
        for term in terms:
            match = re.fullmatch(r"(\+?)([^+]+)(\+?)", term)
            if not match:
                raise SelectionError(f"cannot read selection term {term!r}")
            up, core, down = match.groups()
            if core.startswith("tag:"):
                tag = core[4:]
                roots = {s.name for s in self.steps if tag in s.tags}
                if not roots:
                    raise SelectionError(f"no flow of factory {self.factory!r} has tag {tag!r}")
            elif core in by_name:
                roots = {core}
            else:
                raise SelectionError(
                    f"selection {term!r}: factory {self.factory!r} has no flow {core!r}; "
                    f"known flows: {sorted(by_name)}"
                )
            chosen |= roots
            for root in roots:
                if up:
                    chosen |= self._ancestors(root)
                if down:
                    chosen |= set(self.downstream(root))
        return replace(
            self,
            steps=tuple(step for step in self.steps if step.name in chosen),
            selected_from=self.names,
        )

    def _ancestors(self, name: str) -> set[str]:
        by_name = {step.name: step for step in self.steps}
        found: set[str] = set()
        pending = list(by_name[name].upstream)
        while pending:
            current = pending.pop()
            if current not in found and current in by_name:
                found.add(current)
                pending.extend(by_name[current].upstream)
        return found

    # -- serialisation --------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Plan:
        known = {f.name for f in fields(StepPlan)}
        steps = tuple(
            StepPlan(**{**{k: v for k, v in step.items() if k in known},
                        "inputs": tuple(step["inputs"]), "after": tuple(step["after"]),
                        "tags": tuple(step["tags"]),
                        "partitions": tuple(step.get("partitions", ()))})
            for step in data["steps"]
        )
        return cls(
            factory=data["factory"], store=data["store"], steps=steps,
            factory_ref=data.get("factory_ref"), description=data.get("description", ""),
            selected_from=tuple(data.get("selected_from", ())),
            code_hash=data.get("code_hash", ""),
        )

    @classmethod
    def from_json(cls, text: str) -> Plan:
        return cls.from_dict(json.loads(text))


def unit_id(flow: str, partition: str | None = None) -> str:
    """The id of a unit: ``flow``, or ``flow[value]`` for one partition of it.

    Reports, manifests, progress bars and orchestrator task names all use these ids.

    >>> unit_id("sales"), unit_id("sales", "raw/eu.csv")
    ('sales', 'sales[raw/eu.csv]')
    """
    return flow if partition is None else f"{flow}[{partition}]"


@dataclass(frozen=True)
class Unit:
    """One thing to run: a flow, one partition of a flow, or the merge of a flow's parts."""

    id: str
    step: StepPlan
    partition: str | None
    deps: tuple[str, ...]  # ids of units of the same plan

    @property
    def flow(self) -> str:
        return self.step.name

    @property
    def is_merge(self) -> bool:
        """The unit that unites a partitioned flow's parts into its dataset."""
        return self.step.partitioned and self.partition is None


class Schedule:
    """Which units may start, which are done, and what a failure blocks: no I/O, no clock.

    Every engine that decides the order itself (the local runner, the Prefect adapter,
    Dagster's multi-flow op) asks a Schedule; engines with native dependencies (Airflow)
    get the same edges from :meth:`Plan.units`.

    >>> schedule = Schedule(plan.units())                 # doctest: +SKIP
    >>> [u.id for u in schedule.ready()]
    ['countries', 'cities']
    >>> schedule.start("countries"); schedule.finish("countries", ok=False)
    ['key_metrics', 'publish']                            # blocked: never started
    """

    def __init__(self, units: Iterable[Unit]) -> None:
        self.units = {unit.id: unit for unit in units}
        self.pending: dict[str, Unit] = dict(self.units)
        self.running: set[str] = set()
        self.succeeded: set[str] = set()
        self.failed: set[str] = set()
        self.blocked: dict[str, str] = {}  # unit id -> the failed unit that blocks it

    @property
    def done(self) -> bool:
        return not self.pending and not self.running

    def ready(self) -> list[Unit]:
        """Units not started whose deps all succeeded, in plan order."""
        return [u for u in self.pending.values() if all(d in self.succeeded for d in u.deps)]

    def start(self, unit: str) -> Unit:
        self.running.add(unit)
        return self.pending.pop(unit)

    def retry(self, unit: str) -> None:
        """Put a started unit back: it will be ready again."""
        self.running.discard(unit)
        self.pending[unit] = self.units[unit]

    def finish(self, unit: str, *, ok: bool) -> list[str]:
        """Record an outcome; a failure blocks every pending unit below it (returned, in order)."""
        self.running.discard(unit)
        self.pending.pop(unit, None)
        if ok:
            self.succeeded.add(unit)
            return []
        self.failed.add(unit)
        found = {unit}
        newly: list[str] = []
        for candidate in self.units.values():
            if any(d in found for d in candidate.deps):
                found.add(candidate.id)
                if candidate.id in self.pending:
                    del self.pending[candidate.id]
                    self.blocked[candidate.id] = self.blocked.get(unit, unit)
                    newly.append(candidate.id)
        return newly

    def cancel(self) -> list[str]:
        """Drop every unit not started yet (an interrupted run); returns their ids."""
        dropped = list(self.pending)
        self.pending.clear()
        return dropped


def _terms(selection: str | Iterable[str]) -> list[str]:
    if isinstance(selection, str):
        selection = [selection]
    return [t for item in selection for t in re.split(r"[\s,]+", str(item).strip()) if t]
