"""``parallelize`` that keeps row order and raises on the first failing row.

dataflows' ``parallelize`` prints a worker's exception and passes the failed row through
unchanged, so a flow "succeeds" with wrong data. Here rows go to a process pool in chunks,
come back in their original order, and an exception in ``row_func`` stops the flow with
the resource and row number named.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import signal
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from dataflows.helpers.resource_matcher import ResourceMatcher

__all__ = ["ParallelRowError", "parallelize"]

# Functions of running parallelize steps, inherited by forked workers: lambdas and
# closures can't be pickled, but a forked child already has them.
_TASKS: dict[int, tuple[Callable[[dict[str, Any]], Any], Callable[[dict[str, Any]], bool] | None]] = {}


class ParallelRowError(RuntimeError):
    """``row_func`` failed on a row in a worker process."""

    def __init__(self, resource: str, row_number: int, error: str) -> None:
        super().__init__(f"parallelize: row function failed on resource {resource!r}, "
                         f"row {row_number}: {error}")
        self.resource, self.row_number = resource, row_number


def _apply(task: int, chunk: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int, str]:
    row_func, predicate = _TASKS[task]
    for index, row in enumerate(chunk):
        try:
            if predicate is None or predicate(row):
                row_func(row)
        except Exception as error:
            return chunk, index, f"{type(error).__name__}: {error}"
    return chunk, -1, ""


def _chunks(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _fork(resource: str, rows: Iterable[dict[str, Any]], row_func: Callable[[dict[str, Any]], Any],
          processes: int, predicate: Callable[[dict[str, Any]], bool] | None,
          chunk_size: int) -> Iterator[dict[str, Any]]:
    task = id(row_func) ^ id(rows)
    _TASKS[task] = (row_func, predicate)
    context = multiprocessing.get_context("fork")
    try:
        with context.Pool(processes, initializer=_default_signals) as pool:
            done = 0
            for chunk, failed, error in pool.imap(_call, ((task, c) for c in _chunks(rows, chunk_size))):
                if failed >= 0:
                    raise ParallelRowError(resource, done + failed + 1, error)
                done += len(chunk)
                yield from chunk
    finally:
        _TASKS.pop(task, None)


def _default_signals() -> None:
    # A pool worker is forked from a step worker, whose SIGTERM handler stops a step: the pool
    # ends its workers with SIGTERM, which must simply end them (no traceback).
    for name in ("SIGTERM", "SIGINT", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_DFL)


def _call(args: tuple[int, list[dict[str, Any]]]) -> tuple[list[dict[str, Any]], int, str]:
    return _apply(*args)


def parallelize(row_func: Callable[[dict[str, Any]], Any], num_processors: int | None = None,
                resources: Any = None, predicate: Callable[[dict[str, Any]], bool] | None = None,
                chunk_size: int = 1000) -> Callable[[Any], Iterator[Any]]:
    """Apply ``row_func`` (which modifies a row in place) in worker processes; errors raise.

    Same arguments as ``dataflows.parallelize``; rows keep their order. Worth it only for
    expensive row functions (rows are pickled to and from the workers)::

        Flow(load("pages.csv"), parallelize(extract_entities, num_processors=2))
    """
    processes = num_processors or os.cpu_count() or 1

    def func(package: Any) -> Iterator[Any]:
        yield package.pkg
        matcher = ResourceMatcher(resources, package.pkg)
        for rows in package:
            if matcher.match(rows.res.name):
                yield _fork(rows.res.name, rows, row_func, processes, predicate, chunk_size)
            else:
                yield rows

    return func
