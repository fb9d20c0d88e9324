"""``sort_rows`` in memory, spilling sorted runs to disk past a memory budget.

dataflows sorts through a KVFile (SQLite/LevelDB): every row is pickled, inserted and read
back. Here rows are sorted in a list under the very same string keys (same key template,
same number encoding, same row-number suffix), so the order is identical, including ties
and ``reverse``; beyond ``memory_budget`` bytes sorted runs go to temporary files and are
merged (external merge sort).
"""

from __future__ import annotations

import contextlib
import decimal
import heapq
import os
import pickle
import re
import struct
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from datetime import date
from operator import itemgetter
from typing import Any

from dataflows.helpers.resource_matcher import ResourceMatcher

__all__ = ["DEFAULT_MEMORY_BUDGET", "key_calculator", "sort_rows"]



def _memory_limit() -> int | None:
    """Physical memory, or the cgroup (container) limit where that is lower; None if unknown."""
    limits = []
    with contextlib.suppress(AttributeError, OSError, ValueError):
        limits.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as handle:
                text = handle.read().strip()
        except OSError:
            continue
        if text.isdigit():
            limits.append(int(text))
    return min(limits) if limits else None


# One eighth of the machine's (or container's) memory, between 128 MB and 1 GB: a 1M-row
# table of six fields (~700 MB as Python rows) sorts in memory on a 8 GB machine.
_LIMIT = _memory_limit()
DEFAULT_MEMORY_BUDGET = 128 << 20 if _LIMIT is None else max(128 << 20, min(1 << 30, _LIMIT // 8))
_FIELDS = re.compile(r"(\{[^\}]+\})")
_KEY = re.compile(r"[^!:\}]+")
_PACK, _UNPACK = struct.Struct(">d").pack, struct.Struct(">Q").unpack
_SIGN, _ALL = 1 << 63, (1 << 64) - 1


def _number_key(value: Any) -> str:
    # dataflows: BitArray(float=value), sign bit inverted, all other bits too if negative.
    (bits,) = _UNPACK(_PACK(float(value)))
    bits ^= _SIGN
    if value < 0:
        bits ^= _ALL ^ _SIGN
    return f"{bits:016x}"


def key_calculator(key: str | list[str] | tuple[str, ...] | Callable[[Any], str]) -> Callable[[Any], str]:
    """The row -> str key function of ``dataflows.sort_rows(key)``, without bitstring."""
    if callable(key):
        return key
    formatters: list[str] | None = None
    if isinstance(key, str):
        formatters = _FIELDS.findall(key)
        names = [_KEY.findall(fmt[1:])[0] for fmt in formatters]
    elif isinstance(key, list | tuple):
        names = list(key)
    else:
        raise TypeError("key should be either a format string or a row->string callable")
    namespace: dict[str, Any] = {"number_key": _number_key, "NUMBERS": (int, float, decimal.Decimal)}
    terms = []
    for i, name in enumerate(names):
        value = f"row[{name!r}]"
        if not formatters or formatters[i] == "{" + name + "}":
            # "{name}".format(name=v) is format(v, ""), str(v) for a list key; a str is itself.
            text = "format(v, '')" if formatters else "str(v)"
            terms.append(f"(v if type(v := {value}) is str else number_key(v) "
                         f"if isinstance(v, NUMBERS) else {text})")
        else:
            namespace[f"f{i}"] = formatters[i]
            terms.append(f"f{i}.format_map({{{name!r}: {value}}})")
    source = f"def calc(row):\n    return {' + '.join(terms) or repr('')}\n"
    exec(compile(source, "<dff compiled sort key>", "exec"), namespace)
    return namespace["calc"]  # type: ignore[no-any-return]


def _size(row: dict[str, Any]) -> int:
    return sys.getsizeof(row) + sum(sys.getsizeof(v) for v in row.values()) + 120


_CHUNK = 8192
_PLAIN = frozenset({str, int, float, bool, type(None)})
_DECIMAL = frozenset({decimal.Decimal, type(None)})
_DATE = frozenset({date, type(None)})


def _encode_column(values: list[Any]) -> tuple[str, list[Any]]:
    # pickle spends most of its time on Decimal and date objects (one __reduce__ each);
    # their str / ordinal round-trip exactly (exponent, sign of zero, NaN payload kept).
    kinds = set(map(type, values))
    if kinds <= _PLAIN:
        return "", values
    if kinds <= _DECIMAL:
        return "decimal", [None if v is None else str(v) for v in values]
    if kinds <= _DATE:
        return "date", [None if v is None else v.toordinal() for v in values]
    return "", values


def _decode_column(kind: str, values: list[Any]) -> list[Any]:
    if kind == "decimal":
        return [None if v is None else decimal.Decimal(v) for v in values]
    if kind == "date":
        return [None if v is None else date.fromordinal(v) for v in values]
    return values


def _encode(chunk: list[tuple[str, Any]]) -> tuple[Any, ...]:
    """A sorted chunk as columns when its rows are dicts with the same keys in the same
    order (each field kept, or encoded when its type pickles slowly), else as it is."""
    keys = [key for key, _ in chunk]
    rows = [row for _, row in chunk]
    first = rows[0]
    names = tuple(first) if type(first) is dict else None
    if names is None or any(type(row) is not dict or tuple(row) != names for row in rows):
        return ("pairs", chunk)
    columns = [_encode_column([row[name] for row in rows]) for name in names]
    return ("columns", keys, names, columns)


def _decode(data: tuple[Any, ...]) -> Iterable[tuple[str, Any]]:
    if data[0] == "pairs":
        return data[1]  # type: ignore[no-any-return]
    _, keys, names, columns = data
    values = zip(*[_decode_column(kind, column) for kind, column in columns], strict=True)
    return zip(keys, [dict(zip(names, row, strict=True)) for row in values], strict=True)


def _spill(run: list[tuple[str, Any]], folder: str, index: int) -> str:
    path = os.path.join(folder, f"run-{index:05d}.pkl")
    # The merge holds one chunk of every run: a 32nd of a run keeps that near the budget
    # for up to 32 runs.
    chunk = max(64, min(_CHUNK, len(run) // 32))
    with open(path, "wb") as handle:
        for start in range(0, len(run), chunk):
            pickle.dump(_encode(run[start:start + chunk]), handle, protocol=pickle.HIGHEST_PROTOCOL)
    return path


def _read_run(path: str) -> Iterator[tuple[str, Any]]:
    with open(path, "rb") as handle:
        while True:
            try:
                data = pickle.load(handle)
            except EOFError:
                return
            yield from _decode(data)


def sorter(rows: Iterable[Any], key_calc: Callable[[Any], str], reverse: bool,
           memory_budget: int) -> Iterator[Any]:
    run: list[tuple[str, Any]] = []
    used = 0
    per_row = 0
    runs: list[str] = []
    folder: tempfile.TemporaryDirectory[str] | None = None
    try:
        for row_num, row in enumerate(rows):
            run.append((key_calc(row) + f"{row_num:08x}", row))
            if row_num < 64 or row_num & 1023 == 0:  # sample sizes, cheaply
                per_row = max(per_row, _size(row))
            used += per_row
            if used > memory_budget and len(run) > 1:
                run.sort(key=itemgetter(0), reverse=reverse)
                folder = folder or tempfile.TemporaryDirectory(prefix="dff-sort-")
                runs.append(_spill(run, folder.name, len(runs)))
                run, used = [], 0
        run.sort(key=itemgetter(0), reverse=reverse)
        if not runs:
            for _, row in run:
                yield row
            return
        streams = [_read_run(p) for p in runs] + [iter(run)]
        for _, row in heapq.merge(*streams, key=itemgetter(0), reverse=reverse):
            yield row
    finally:
        if folder is not None:
            folder.cleanup()


def sort_rows(key: Any, resources: Any = None, reverse: bool = False, batch_size: int = 1000,
              memory_budget: int = DEFAULT_MEMORY_BUDGET) -> Callable[[Any], Iterator[Any]]:
    """Sort rows like ``dataflows.sort_rows``, in memory up to ``memory_budget`` bytes.

    Past the budget (by default an eighth of the machine's or container's memory, between
    128 MB and 1 GB: ``DEFAULT_MEMORY_BUDGET``), sorted runs are spilled to temporary files
    and merged.

    Same arguments (``batch_size`` is accepted and unused) and the same order::

        Flow(load("cities.csv"), sort_rows("{country}{population}", memory_budget=64 << 20))
    """
    key_calc = key_calculator(key)

    def func(package: Any) -> Iterator[Any]:
        matcher = ResourceMatcher(resources, package.pkg)
        yield package.pkg
        for rows in package:
            if matcher.match(rows.res.name):
                yield sorter(rows, key_calc, reverse, memory_budget)
            else:
                yield rows

    return func
