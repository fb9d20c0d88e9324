"""``sort_rows`` in memory, spilling sorted runs to disk past a memory budget.

dataflows sorts through a KVFile (SQLite/LevelDB): every row is pickled, inserted and read
back. Here rows are sorted in a list under the very same string keys (same key template,
same number encoding, same row-number suffix), so the order is identical, including ties
and ``reverse``; beyond ``memory_budget`` bytes sorted runs go to temporary files and are
merged (external merge sort).
"""

from __future__ import annotations

import decimal
import heapq
import os
import pickle
import re
import struct
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from operator import itemgetter
from typing import Any

from dataflows.helpers.resource_matcher import ResourceMatcher

__all__ = ["DEFAULT_MEMORY_BUDGET", "key_calculator", "sort_rows"]

DEFAULT_MEMORY_BUDGET = 128 * 1024 * 1024
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
    parts = []
    for i, name in enumerate(names):
        raw = not formatters or formatters[i] == "{" + name + "}"
        fmt = formatters[i] if formatters else None
        parts.append((name, raw, fmt))

    def calc(row: Any) -> str:
        out = ""
        for name, raw, fmt in parts:
            value = row[name]
            if raw and isinstance(value, int | float | decimal.Decimal):
                value = _number_key(value)
            out += fmt.format(**{name: value}) if fmt is not None else str(value)
        return out

    return calc


def _size(row: dict[str, Any]) -> int:
    return sys.getsizeof(row) + sum(sys.getsizeof(v) for v in row.values()) + 120


def _spill(run: list[tuple[str, Any]], folder: str, index: int) -> str:
    path = os.path.join(folder, f"run-{index:05d}.pkl")
    with open(path, "wb") as handle:
        for start in range(0, len(run), 2048):
            pickle.dump(run[start:start + 2048], handle, protocol=pickle.HIGHEST_PROTOCOL)
    return path


def _read_run(path: str) -> Iterator[tuple[str, Any]]:
    with open(path, "rb") as handle:
        while True:
            try:
                yield from pickle.load(handle)
            except EOFError:
                return


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
