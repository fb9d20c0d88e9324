"""Locks that let several runs share one local store, and repair after a crash.

A run takes an exclusive lock on the flow it writes and shared locks on the flows it reads,
for the whole step (fingerprint check, streaming, publish). So two runs of one factory
never build the same dataset at the same time (the second one waits, then finds the
fingerprint unchanged and skips), and no dataset is swapped while a downstream flow of
another run is reading it. Waits point upstream only, and the flows form a DAG, so two
runs cannot deadlock.

Holding the exclusive lock also proves that nothing else is building that flow: whatever
a crashed (``SIGKILL``-ed) run left in staging is garbage, and is removed right then.
``flock`` locks die with their process, so a killed run never leaves a lock behind.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import re
import shutil
from collections.abc import Iterable, Iterator
from typing import IO

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: one run per store at a time
    fcntl = None  # type: ignore[assignment]

__all__ = ["flow_locks", "repair"]

log = logging.getLogger("dataflows_factory.store")


def _acquire(handle: IO[str], exclusive: bool, what: str) -> None:
    if fcntl is None:  # pragma: no cover
        return
    mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
    try:
        fcntl.flock(handle.fileno(), mode | fcntl.LOCK_NB)
    except BlockingIOError:
        log.info("waiting for another run that is %s", what)
        fcntl.flock(handle.fileno(), mode)


@contextlib.contextmanager
def flow_locks(root: str, flow: str, inputs: Iterable[str] = ()) -> Iterator[None]:
    """Exclusive lock on ``flow``, shared locks on ``inputs``, under ``root/.locks``."""
    folder = os.path.join(root, ".locks")
    os.makedirs(folder, exist_ok=True)
    with contextlib.ExitStack() as stack:
        mine = stack.enter_context(open(os.path.join(folder, f"{flow}.lock"), "a"))
        _acquire(mine, True, f"writing flow {flow!r}")
        for name in sorted(set(inputs) - {flow}):
            handle = stack.enter_context(open(os.path.join(folder, f"{name}.lock"), "a"))
            _acquire(handle, False, f"writing flow {name!r}, which {flow!r} reads")
        repair(root, flow)
        yield


def repair(root: str, flow: str) -> list[str]:
    """Remove what crashed runs of ``flow`` left behind; call it only under the flow's lock.

    Returns the paths removed. A dataset moved aside by the two-rename fallback and never
    replaced (a crash between the renames) is moved back first.
    """
    removed: list[str] = []
    target = os.path.join(root, flow)
    for kept in sorted(glob.glob(os.path.join(root, ".trash", f"{flow}-*"))):
        if not os.path.exists(target):
            os.rename(kept, target)
            log.warning("flow %r: restored the previous dataset from %s", flow, kept)
            continue
        shutil.rmtree(kept, ignore_errors=True)
        removed.append(kept)
    # Exactly this flow's folders (``<flow>-<pid>-<random>``, or ``<flow>-<random>`` from
    # older versions): a glob would also match a partition ``<flow>-01``, whose folder
    # belongs to a run that may be alive.
    mine = re.compile(re.escape(flow) + r"-(\d+-)?[^-]+")
    staging = os.path.join(root, ".staging")
    for name in sorted(os.listdir(staging)) if os.path.isdir(staging) else ():
        if mine.fullmatch(name):
            stale = os.path.join(staging, name)
            shutil.rmtree(stale, ignore_errors=True)
            removed.append(stale)
    if removed:
        log.info("flow %r: removed %d leftover(s) of interrupted runs", flow, len(removed))
    return removed
