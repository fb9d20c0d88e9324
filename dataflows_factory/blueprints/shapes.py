"""Tables -> source flows: same-shaped files of one SOURCE become one partitioned flow.

Two tables have the same shape when their headers are equal (same names, same order) and
their column types agree: equal, integer and number (read as number), or one side empty
(any type reads an empty cell as null), or text on one side (read as text everywhere). A
date in one file where the other has an integer is a different shape: a flow of its own,
and the command prints why. Each group becomes one flow; its columns are the tables'
columns reconciled, set explicitly where the tables disagreed, so every partition casts
with the same schema.
"""

from __future__ import annotations

import keyword
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from .infer import Column, Table

__all__ = ["RESERVED", "FlowSpec", "flow_name", "group_tables", "unique_names"]

# Names the generated module uses itself: a flow (a function, a parameter) must not shadow them.
RESERVED = frozenset({"factory", "load", "files", "to_sql", "partition", "os", "SQL_URL", "to_database",
                      "Flow", "Factory"})
_MAX_NAME = 60  # a flow name is also a SQL table name (at most 63 characters)


@dataclass(frozen=True)
class FlowSpec:
    """One source flow to generate: its tables (several: partitioned) and reconciled columns."""

    name: str
    tables: tuple[Table, ...]
    columns: tuple[Column, ...]

    @property
    def partitioned(self) -> bool:
        return len(self.tables) > 1


def flow_name(stem: str) -> str:
    """A valid flow name from a file stem: ``2024 Sales-EU`` -> ``sales_eu_2024``.

    Lower case, words joined by ``_``; words that are only digits move behind the first word
    with a letter (a name starts with a letter); a name without letters gets ``t_``.
    """
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()  # Umsätze -> Umsatze
    words = [w for w in re.split(r"[^a-z0-9]+", ascii_stem.lower()) if w]
    lead = next((i for i, w in enumerate(words) if w[0].isalpha()), None)
    if lead is None:
        words = ["t", *words]
    elif lead:
        words = words[lead:] + words[:lead]
    name = "_".join(words)[:_MAX_NAME].rstrip("_")
    if keyword.iskeyword(name) or keyword.issoftkeyword(name) or name in RESERVED:
        name = f"{name}_data"
    return name


def unique_names(names: list[str]) -> list[str]:
    """``names`` with later repeats suffixed ``_2``, ``_3``, ... (never clashing again)."""
    taken: set[str] = set()
    out = []
    for name in names:
        candidate, n = name, 1
        while candidate in taken:
            n += 1
            candidate = f"{name[:_MAX_NAME - len(str(n)) - 1]}_{n}"
        taken.add(candidate)
        out.append(candidate)
    return out


def group_tables(tables: list[Table]) -> tuple[list[tuple[str, tuple[Table, ...], tuple[
        Column, ...]]], list[str]]:
    """Group the tables of one SOURCE by shape: ``(name, tables, columns)`` per group, and why
    groups were split (one line each)."""
    groups: list[tuple[list[Table], tuple[Column, ...]]] = []
    why: list[str] = []
    for table in tables:
        reasons: list[tuple[int, str]] = []  # (columns in common, why not that group)
        for index, (members, columns) in enumerate(groups):
            merged, reason = _merge(columns, table.columns)
            if merged is not None:
                groups[index] = ([*members, table], merged)
                break
            common = len({c.name for c in columns} & set(table.headers))
            reasons.append((common, f"{reason} {members[0].source.label}"))
        else:
            groups.append(([table], table.columns))
            closest = max(reasons, default=(0, ""))
            if closest[0] * 2 >= len(table.columns):  # a near miss (not just another table): say why
                why.append(f"{table.source.label}: a flow of its own: {closest[1]}")
    return [(_group_name(members), tuple(members), columns)
            for members, columns in groups], why


def _merge(left: tuple[Column, ...], right: tuple[Column, ...]) -> tuple[tuple[Column, ...] | None, str]:
    names, other = [c.name for c in left], [c.name for c in right]
    if names != other:
        extra, lacks = sorted(set(other) - set(names)), sorted(set(names) - set(other))
        parts = [f"has {', '.join(extra[:3])}" if extra else "",
                 f"lacks {', '.join(lacks[:3])}" if lacks else ""]
        detail = "; ".join(p for p in parts if p) or "another order"
        return None, f"its columns differ ({detail}) from those of"
    merged = []
    for a, b in zip(left, right, strict=True):
        column = _reconcile(a, b)
        if column is None:
            return None, f"column {a.name!r} is {b.kind} here, {a.kind} in"
        merged.append(column)
    return tuple(merged), ""


def _empty(column: Column) -> bool:
    return column.why.startswith("empty")


def _reconcile(a: Column, b: Column) -> Column | None:
    if _empty(a) or _empty(b):
        return b if _empty(a) else a
    if (a.type, a.format) == (b.type, b.format):
        return a if a.why else b  # the one that says why, if one does
    kinds = {a.type, b.type}
    if kinds == {"integer", "number"}:
        return Column(a.name, "number", why="integer in some files, number in others: read as number")
    if "string" in kinds:
        text = a if a.type == "string" else b
        return Column(a.name, "string", why=text.why or "text in some files: read as text in all")
    return None


def _group_name(tables: list[Table]) -> str:
    """A flow name for a group: the start its file names share (``orders_2026-01``,
    ``orders_2026-02`` -> ``orders``), else the name of their folder."""
    stems = [_stem(t).lower() for t in tables]
    if len(stems) == 1:
        return flow_name(stems[0])
    start = os.path.commonprefix(stems)  # noqa: RUF071 (file names, not paths)
    if start and start[-1].isalpha() and any(len(s) > len(start) and s[len(start)].isalpha() for s in stems):
        start = re.sub(r"[a-z]+$", "", start)  # cut in the middle of a word: drop the part word
    start = re.sub(r"[^a-z]+$", "", start)  # dates, numbers and separators at the end
    paths = [t.source.path for t in tables if t.source.path is not None]
    folder = Path(os.path.commonpath(paths)).name if len(paths) == len(tables) else ""
    return flow_name(start or folder or "table")


def _stem(table: Table) -> str:
    name = Path(table.source.location.split("?")[0]).name
    for suffix in (".gz", ".zip"):
        name = name.removesuffix(suffix)
    return name.rsplit(".", 1)[0] if "." in name else name

