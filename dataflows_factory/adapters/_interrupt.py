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

__all__ = ["Interrupted", "check", "install_handlers", "publishing", "request", "reset"]


class Interrupted(BaseException):
    """The step was asked to stop (``signum``: the signal, 0 when its parent process died)."""

    def __init__(self, signum: int, reason: str = "") -> None:
        self.signum = signum
        self.reason = reason or _reason(signum)
        super().__init__(self.reason)


class _State:
    pending: Interrupted | None = None
    shielded = 0  # publishes under way


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
def publishing() -> Iterator[None]:
    """Around a publish: refuse to start after an interruption, and finish once started."""
    with _LOCK:
        check()
        _STATE.shielded += 1
    try:
        yield
    finally:
        with _LOCK:
            _STATE.shielded -= 1


def install_handlers(signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)) -> None:
    """In a worker process: these signals raise :class:`Interrupted` in the main thread,
    except during a publish, which completes first (the next check raises)."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        request(signum)
        if not _STATE.shielded:
            check()  # raises the first reason: a dead parent says so, not "SIGTERM"

    for signum in signals:
        signal.signal(signum, handler)
