"""Stopping a step on a signal without publishing half of it.

A step that must stop (Ctrl-C, SIGTERM from a scheduler, its parent process gone) raises
:class:`Interrupted` where it stands. Interrupted is a ``BaseException`` on purpose: the step
executor turns every ``Exception`` into a flow error, and an interruption is not one. It
unwinds through ``Store.staging`` (the staging folder is removed) and never reaches
``Store.publish``: :func:`publishing` checks for a pending interruption first, and defers one
that arrives while a publish is under way until the publish is complete (a half-swapped
dataset would be worse than a finished one).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

__all__ = ["STOP_SIGNALS", "Interrupted", "check", "install_handlers", "publishing", "request", "reset",
           "stop_run"]


class Interrupted(BaseException):
    """The step was asked to stop (``signum``: the signal, 0 when its parent process died)."""

    def __init__(self, signum: int, reason: str = "") -> None:
        self.signum = signum
        self.reason = reason or _reason(signum)
        super().__init__(self.reason)


class _State:
    def __init__(self) -> None:
        self.pending: Interrupted | None = None  # this process must stop (a worker's signal)
        self.stopped_runs: dict[str, Interrupted] = {}  # runs whose steps run in threads here
        self.shielded = 0  # publishes under way


_LOCK = threading.RLock()  # re-entered by a signal handler that interrupts a holder
_STATE = _State()


def _reason(signum: int) -> str:
    if signum <= 0:
        return "its parent process died"
    return f"it received {signal.Signals(signum).name}"


def request(signum: int, reason: str = "") -> None:
    """Ask the step of this process to stop; it raises :class:`Interrupted` at its next check."""
    with _LOCK:
        if _STATE.pending is None:
            _STATE.pending = Interrupted(signum, reason)


def stop_run(run_id: str, signum: int) -> None:
    """Refuse every later publish of run ``run_id`` in this process: its steps run in threads,
    which cannot be stopped where they stand (kept for the life of the process)."""
    with _LOCK:
        _STATE.stopped_runs.setdefault(run_id, Interrupted(signum))


def reset() -> None:
    """Forget a pending interruption (a new run in the same process, a fresh worker)."""
    with _LOCK:
        _STATE.pending = None


def check() -> None:
    """Raise the pending interruption, if any."""
    pending = _STATE.pending
    if pending is not None:
        raise Interrupted(pending.signum, pending.reason)


@contextlib.contextmanager
def publishing(run_id: str | None = None) -> Iterator[None]:
    """Around a publish: refuse to start after an interruption (of this process, or of the
    run ``run_id``), and finish once started."""
    with _LOCK:
        check()
        stopped = _STATE.stopped_runs.get(run_id or "")
        if stopped is not None:
            raise Interrupted(stopped.signum, stopped.reason)
        _STATE.shielded += 1
    try:
        yield
    finally:
        with _LOCK:
            _STATE.shielded -= 1


# Ctrl-C; schedulers and containers; a closed terminal (the whole foreground group gets it).
STOP_SIGNALS: tuple[int, ...] = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


def install_handlers(signals: tuple[int, ...] = STOP_SIGNALS) -> None:
    """In a worker process: these signals raise :class:`Interrupted` in the main thread,
    except during a publish, which completes first (the next check raises)."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        request(signum)
        if not _STATE.shielded:
            check()  # raises the first reason: a dead parent says so, not "SIGTERM"

    for signum in signals:
        signal.signal(signum, handler)
