"""Partitions: one flow run per partition, their parts united into the flow's dataset.

A partitioned flow takes a ``partition`` parameter and is declared with ``partitions=``:

>>> @factory.flow(partitions=["eu", "us"])                  # a static list
... def sales(partition): ...
>>> @factory.flow(partitions=files("raw/sales/*.csv"))      # one per input file
... def sales(partition): return Flow(load(partition))
>>> @factory.flow(partitions=dates("2026-01-01", "2026-01-31"))
... def daily(partition): ...

Each partition writes its own part; downstream flows see one dataset, the union of the
parts in partition order. Only partitions whose inputs changed run again.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from ._naming import safe_id
from .errors import FactoryDefinitionError, NoPartitionsError

__all__ = ["Partitions", "dates", "files", "part_dataset", "partition_key", "static"]


def partition_key(value: str) -> str:
    """A deterministic, path- and id-safe key for a partition value.

    Safe values are kept as they are; others are sanitized and get a short stable hash
    so that two values never share a key.

    >>> partition_key("2026-01-01"), partition_key("raw/sales/eu.csv")
    ('2026-01-01', 'raw_sales_eu.csv-e178dbab')
    """
    return safe_id(value, allowed=r"A-Za-z0-9_.-", max_length=64, sep="-", strip="._-", empty="_")


def part_dataset(flow: str, partition: str) -> str:
    """The store name of one partition's part of ``flow``: ``<flow>@<key>``.

    ``@`` never appears in flow names, so parts cannot collide with flows.
    """
    return f"{flow}@{partition_key(partition)}"


@dataclass(frozen=True)
class Partitions:
    """How a flow is split: a static list, a glob of input files, or a date range."""

    kind: str
    values: tuple[str, ...] = ()
    pattern: str = ""
    start: str = ""
    end: str = ""
    step_days: int = 1

    def __str__(self) -> str:
        """How the flow declared them: ``files('raw/*.csv')``, ``dates('2026-01-01', ...)``."""
        if self.kind == "files":
            return f"files({self.pattern!r})"
        if self.kind == "dates":
            every = f", every_days={self.step_days}" if self.step_days != 1 else ""
            return f"dates({self.start!r}, {self.end!r}{every})"
        return repr(list(self.values))

    def resolve(self, root: str | os.PathLike[str]) -> tuple[str, ...]:
        """The partition values, in order. A file glob lists (never reads) the folder.

        Raises :class:`NoPartitionsError` when a ``files()`` pattern matches no file: the
        plan records it (:meth:`Factory.plan` never raises it) and only running the flow fails.
        """
        if self.kind == "static":
            found = self.values
        elif self.kind == "files":
            base = Path(root)
            matches = sorted(glob.glob(str(base / self.pattern), recursive=True))
            found = tuple(os.path.relpath(m, base) for m in matches if os.path.isfile(m))
            if not found:
                raise NoPartitionsError(
                    f"{self} matches no file under {str(base)!r}; add a matching file or "
                    "change the pattern (a partitioned flow needs at least one partition)")
        else:
            first, last = date.fromisoformat(self.start), date.fromisoformat(self.end)
            days = (last - first).days
            found = tuple((first + timedelta(days=d)).isoformat() for d in range(0, days + 1, self.step_days))
        keys = [partition_key(v) for v in found]
        if len(set(keys)) != len(keys):
            raise FactoryDefinitionError(f"partitions {found} give duplicate keys")
        return found


def static(values: Iterable[str]) -> Partitions:
    values = tuple(values)
    bad = [v for v in values if not isinstance(v, str) or not v]
    if bad or not values:
        raise FactoryDefinitionError(f"static partitions must be non-empty strings, got {values!r}")
    if len(set(values)) != len(values):
        raise FactoryDefinitionError(f"static partitions repeat a value: {values!r}")
    return Partitions("static", values=values)


def files(pattern: str) -> Partitions:
    """One partition per file matching ``pattern`` (relative to the factory's folder)."""
    if not pattern or (os.path.isabs(pattern) and not glob.has_magic(pattern)):
        raise FactoryDefinitionError(f"files() needs a glob pattern, got {pattern!r}")
    return Partitions("files", pattern=pattern)


def dates(start: str | date, end: str | date, *, every_days: int = 1) -> Partitions:
    """One partition per day from ``start`` to ``end`` inclusive (ISO dates), every N days."""
    first, last = date.fromisoformat(str(start)), date.fromisoformat(str(end))
    if last < first or every_days < 1:
        raise FactoryDefinitionError(f"dates({start!r}, {end!r}, every_days={every_days}) is empty")
    return Partitions("dates", start=first.isoformat(), end=last.isoformat(), step_days=every_days)


def as_partitions(value: Partitions | Iterable[str] | None) -> Partitions | None:
    if value is None or isinstance(value, Partitions):
        return value
    if isinstance(value, str):
        raise FactoryDefinitionError(
            f"partitions={value!r}: pass a list of values, files('glob') or dates(start, end)")
    return static(value)
