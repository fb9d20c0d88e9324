"""``sort_rows`` in memory, spilling sorted runs to disk past a memory budget.

dataflows sorts through a KVFile (SQLite/LevelDB): every row is pickled, inserted and read
back. Here each row becomes one compact ``bytes`` item (``_sortitems``: the very same string
key, same key template, number encoding and row-number suffix, then the row's values), and
a list of items is sorted, so the order is identical, including ties and ``reverse``.
Beyond ``memory_budget`` bytes (the items' measured size), sorted runs go to temporary
files and are merged (external merge sort), a bounded number at a time.
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
from itertools import islice
from typing import Any

from dataflows.helpers.resource_matcher import ResourceMatcher

from ._sortitems import ItemCodec, KeySource

__all__ = ["DEFAULT_MEMORY_BUDGET", "key_calculator", "key_source", "sort_rows"]



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


# 160 MB, or an eighth of the machine's (or container's) memory if that is less (not under
# 16 MB). Rows are held as compact items (~135 bytes for the benchmarks' six fields), so a
# 1M-row table sorts in memory and the process stays under 300 MB; past it, runs spill.
_LIMIT = _memory_limit()
DEFAULT_MEMORY_BUDGET = 160 << 20 if _LIMIT is None else max(16 << 20, min(160 << 20, _LIMIT // 8))
_FIELDS = re.compile(r"(\{[^\}]+\})")
_KEY = re.compile(r"[^!:\}]+")
_PACK = struct.Struct(">d").pack
_INVERT = bytes(byte ^ 0xFF for byte in range(256))


# dataflows: BitArray(float=value), sign bit inverted, all other bits too if negative, as hex.
# Inverting the sign bit is packing -value; inverting all bits a byte translation. In line in
# the generated key (a call per number costs as much as the work).
_NUMBER_KEY = "(PACK(float(v)).translate(INVERT).hex() if v < 0 else PACK(-float(v)).hex())"


def _terms(key: str | list[str] | tuple[str, ...]) -> tuple[list[str] | None, list[str]]:
    """The ``{...}`` formatters of a key template (None for a list of fields), and the field
    each one reads."""
    if isinstance(key, str):
        formatters = _FIELDS.findall(key)
        return formatters, [_KEY.findall(fmt[1:])[0] for fmt in formatters]
    if isinstance(key, list | tuple):
        return None, list(key)
    raise TypeError("key should be either a format string or a row->string callable")


def plain_key_fields(key: str | list[str] | tuple[str, ...] | Callable[[Any], str]) -> tuple[str, ...] | None:
    """The fields of a key made of plain ``{field}`` terms (or a list of fields), in order;
    None for a key function or a template with a format spec. Such a key is the fields'
    terms joined, the form ``_sortitems``' C encoder builds."""
    if callable(key):
        return None
    formatters, names = _terms(key)
    if formatters and any(fmt != "{" + name + "}" for fmt, name in zip(formatters, names, strict=True)):
        return None
    return tuple(names)


def key_source(key: str | list[str] | tuple[str, ...] | Callable[[Any], str]) -> KeySource:
    """The key of ``dataflows.sort_rows(key)`` as a Python expression over row fields
    (without bitstring), for generated code: ``key_source(key)(field)`` gives the expression
    (``field(name)`` is the expression of a field's value) and the names it needs."""
    if callable(key):
        return lambda field: ("KEY_FUNCTION(row)", {"KEY_FUNCTION": key})
    formatters, names = _terms(key)
    namespace: dict[str, Any] = {"PACK": _PACK, "INVERT": _INVERT, "NUMBERS": (int, float, decimal.Decimal)}

    def source(field: Callable[[str], str]) -> tuple[str, dict[str, Any]]:
        terms = []
        for i, name in enumerate(names):
            if not formatters or formatters[i] == "{" + name + "}":
                # "{name}".format(name=v) is format(v, ""), str(v) for a list key; a str is itself.
                text = "format(v, '')" if formatters else "str(v)"
                terms.append(f"(v if type(v := {field(name)}) is str else {_NUMBER_KEY} "
                             f"if isinstance(v, NUMBERS) else {text})")
            else:
                namespace[f"FORMAT{i}"] = formatters[i]
                terms.append(f"FORMAT{i}.format_map({{{name!r}: {field(name)}}})")
        return " + ".join(terms) or repr(""), namespace

    return source


def key_calculator(key: str | list[str] | tuple[str, ...] | Callable[[Any], str]) -> Callable[[Any], str]:
    """The row -> str key function of ``dataflows.sort_rows(key)``, without bitstring."""
    if callable(key):
        return key
    expression, namespace = key_source(key)(lambda name: f"row[{name!r}]")
    return eval(f"lambda row: {expression}", dict(namespace))  # type: ignore[no-any-return]


# Memory held per item beyond its bytes, measured: the bytes object's header, the list's
# pointer to it, and up to an eighth of a pointer of list over-allocation.
_HELD = sys.getsizeof(b"") + struct.calcsize("P") + 1
_BLOCK = 1024
_FAN_IN = 64  # runs merged at once; each holds a 64th of the budget in memory while merging


def _spill(items: Iterable[bytes], folder: str, index: int, chunk_bytes: int) -> str:
    """Write sorted ``items`` as a run file of pickled lists of about ``chunk_bytes``."""
    path = os.path.join(folder, f"run-{index:05d}.pkl")
    with open(path, "wb") as handle:
        chunk: list[bytes] = []
        size = 0
        for item in items:
            chunk.append(item)
            size += len(item) + _HELD
            if size >= chunk_bytes:
                pickle.dump(chunk, handle, protocol=5)
                chunk, size = [], 0
        if chunk:
            pickle.dump(chunk, handle, protocol=5)
    return path


def _read_run(path: str) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        while True:
            try:
                chunk = pickle.load(handle)
            except EOFError:
                break
            yield from chunk
    os.unlink(path)


class _Runs:
    """Sorted runs on disk, merged ``_FAN_IN`` at a time so merging stays within the budget."""

    def __init__(self, reverse: bool, memory_budget: int) -> None:
        self.reverse = reverse
        self.chunk_bytes = max(1, memory_budget // _FAN_IN)
        self.paths: list[str] = []
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        self._count = 0

    def add(self, items: Iterable[bytes]) -> None:
        self._folder = self._folder or tempfile.TemporaryDirectory(prefix="dff-sort-")
        self.paths.append(_spill(items, self._folder.name, self._count, self.chunk_bytes))
        self._count += 1

    def merged(self) -> Iterator[bytes]:
        while len(self.paths) > _FAN_IN:
            group, self.paths = self.paths[:_FAN_IN], self.paths[_FAN_IN:]
            self.add(heapq.merge(*map(_read_run, group), reverse=self.reverse))
        return heapq.merge(*map(_read_run, self.paths), reverse=self.reverse)

    def cleanup(self) -> None:
        if self._folder is not None:
            self._folder.cleanup()


def sorter(rows: Iterable[Any], key: str | list[str] | tuple[str, ...] | Callable[[Any], str],
           reverse: bool, memory_budget: int) -> Iterator[Any]:
    """``rows`` in the order of their keys (``sort_rows``' key, with dataflows' row-number
    suffix)."""
    codec = ItemCodec(key_source(key), plain_key_fields(key))
    # Rows go in and out in blocks (generated comprehensions, no call per row), small enough
    # next to the budget that checking it once a block keeps to it.
    size = max(1, min(_BLOCK, memory_budget >> 14))
    run: list[bytes] = []
    used = 0
    runs = _Runs(reverse, memory_budget)
    try:
        source, start = iter(rows), 0
        while block := list(islice(source, size)):
            items = codec.encode_block(block, start)
            start += len(block)
            run += items
            used += sum(map(len, items)) + _HELD * len(items)  # what is held, measured
            if used > memory_budget and len(run) > 1:
                run.sort(reverse=reverse)
                runs.add(run)
                run, used = [], 0
        run.sort(reverse=reverse)
        if runs.paths:
            # The last run goes to disk too: merging then holds a chunk of each run, no more.
            runs.add(run)
            run = []
        items_out = runs.merged() if runs.paths else iter(run)
        while block := list(islice(items_out, size)):
            yield from codec.decode_block(block)
    finally:
        runs.cleanup()


def sort_rows(key: Any, resources: Any = None, reverse: bool = False, batch_size: int = 1000,
              memory_budget: int = DEFAULT_MEMORY_BUDGET) -> Callable[[Any], Iterator[Any]]:
    """Sort rows like ``dataflows.sort_rows``, in memory up to ``memory_budget`` bytes.

    Rows are held as compact bytes (their values, not dicts). Past the budget (by default
    160 MB, or an eighth of the machine's or container's memory if less, at least 16 MB:
    ``DEFAULT_MEMORY_BUDGET``), sorted runs are spilled to temporary files and merged.

    Same arguments (``batch_size`` is accepted and unused) and the same order::

        Flow(load("cities.csv"), sort_rows("{country}{population}", memory_budget=64 << 20))
    """
    key_source(key)  # a bad key fails here, when the flow is built

    def func(package: Any) -> Iterator[Any]:
        matcher = ResourceMatcher(resources, package.pkg)
        yield package.pkg
        for rows in package:
            if matcher.match(rows.res.name):
                yield sorter(rows, key, reverse, memory_budget)
            else:
                yield rows

    return func
