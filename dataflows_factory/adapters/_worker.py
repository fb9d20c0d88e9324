"""The worker side of the pool: what runs in a worker process, and what crosses to it.

A :class:`Call` goes to a worker; :func:`execute` runs it through the step executor and
returns the one ``done`` payload; :func:`_serve` is a worker's loop (steps one at a time,
log records and progress shipped back, interruption and parent death handled);
:func:`main` is the worker starter that forks workers for callers with threads.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from .._secrets import RedactingFilter, redacting_logs
from ..errors import FactoryRefError, FlowExecutionError
from ..factory import Factory, load_factory
from ..lineage import ParentRun
from ..store import Store
from . import _interrupt
from ._failure import error_payload

__all__ = ["Call", "as_error", "error_payload", "execute", "main", "registered"]

GRACE_SECONDS = 1.5  # how long an interrupted worker may take to unwind before it is killed
_PACKAGE_LOGGER = "dataflows_factory"

# Factories of this process by key: fork workers inherit them, so a factory with no import
# reference (built in a notebook or a test) runs in worker processes too.
_REGISTRY: dict[str, Factory] = {}


@contextlib.contextmanager
def registered(factory: Factory) -> Iterator[str]:
    """Register ``factory`` for the workers forked while the block runs; yields its key."""
    key = f"{factory.name}:{id(factory)}"
    _REGISTRY[key] = factory
    try:
        yield key
    finally:
        _REGISTRY.pop(key, None)


@dataclass(frozen=True)
class _Context:
    """What a thread of the caller would see of its process when the step is submitted."""

    cwd: str
    path: tuple[str, ...]
    environ: dict[str, str]
    level: int

    @classmethod
    def capture(cls) -> _Context:
        return cls(os.getcwd(), tuple(sys.path), dict(os.environ),
                   logging.getLogger(_PACKAGE_LOGGER).getEffectiveLevel())

    def apply(self) -> None:
        with contextlib.suppress(OSError):  # a deleted folder: a thread would be there too
            os.chdir(self.cwd)
        # The caller's entries first, in its order; then what this worker added (the
        # folders of factory files it imported).
        sys.path[:] = [*self.path, *(entry for entry in sys.path if entry not in self.path)]
        if os.environ != self.environ:
            os.environ.clear()
            os.environ.update(self.environ)
        logging.getLogger(_PACKAGE_LOGGER).setLevel(self.level)


@dataclass(frozen=True)
class Call:
    """One step for a worker: which flow (or partition), of which factory, where, which try."""

    unit: str
    flow: str
    partition: str | None = None
    ref: str | None = None  # import reference: how a spawned worker finds the factory
    key: str | None = None  # a registered factory (fork workers and threads)
    store: Store | None = None
    force: bool = False
    run_id: str | None = None
    attempt: int = 1
    limit: int | None = None  # a sample run: at most this many rows per source
    lineage_parent: dict[str, Any] | None = None  # ParentRun.to_dict() of the step's parent run
    context: _Context | None = field(default=None, compare=False)

    def factory(self) -> Factory:
        found = _REGISTRY.get(self.key or "")
        if found is not None:
            return found
        if self.ref is None:
            raise FactoryRefError(f"flow {self.flow!r}: no import reference to load its factory from")
        return load_factory(self.ref)


def as_error(payload: dict[str, Any]) -> FlowExecutionError:
    """The :class:`FlowExecutionError` an error payload describes (its traceback as a note)."""
    return FlowExecutionError.from_dict(payload)


def execute(call: Call, progress: Callable[[str, str, int], None] | None = None,
            factory: Factory | None = None) -> dict[str, Any]:
    """Run ``call`` here and now; the ``done`` payload (a failure is a payload, not raised)."""
    from .step import run_step

    try:
        with redacting_logs():  # in a thread of the caller, its handlers print the step's records
            result = run_step(factory or call.factory(), call.flow, store=call.store,
                              force=call.force, run_id=call.run_id, attempt=call.attempt,
                              progress=progress, partition=call.partition,
                              limit=call.limit, lineage_parent=_parent(call))
    except Exception as error:
        return {"error": error_payload(call.flow, error, call.partition)}
    return {"result": result.to_dict()}


def _parent(call: Call) -> ParentRun | None:
    return ParentRun.from_dict(call.lineage_parent) if call.lineage_parent else None


class _Ship(logging.Handler):
    """Sends each record (message formatted, arguments dropped, credentials hidden) to the
    parent."""

    def __init__(self, send: Callable[[Any], None]) -> None:
        super().__init__()
        # Every record of a worker leaves it here, whichever logger emitted it: one filter
        # redacts them all before they are pickled (the parent prints them as they come).
        self.addFilter(RedactingFilter())
        self.send = send
        self.ticket: int | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            prepared = logging.handlers.QueueHandler.prepare(self, record)  # type: ignore[arg-type]
            self.send(("log", self.ticket, prepared))
        except Exception:
            self.handleError(record)


def main() -> None:
    """Entry point of the worker starter (:class:`_Zygote`): ``python -c ... FD CALLER_PID``."""
    control = socket.socket(fileno=int(sys.argv[1]))
    # Ctrl-C is for the caller and the workers; children are reaped by the system. Nothing
    # here starts a thread: forking stays safe.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    from . import step  # noqa: F401  (imported once, inherited by every worker)

    while True:
        try:
            message, fds, _flags, _address = socket.recv_fds(control, 16, 1)
        except OSError:
            message, fds = b"", []
        if not message or not fds:  # the caller closed the pool, or died
            os._exit(0)
        pid = os.fork()
        if pid == 0:  # a worker; its parent-death watch follows this starter
            code = 0
            try:
                control.close()
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                _serve(Connection(fds[0]), os.getppid())
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        os.close(fds[0])
        control.sendall(str(pid).encode())


def _serve(conn: Connection, parent: int) -> None:
    """Run the steps the parent sends, one at a time, until it sends None or goes away."""
    _interrupt.reset()
    _interrupt.install_handlers()
    lock = threading.Lock()

    def send(message: Any) -> None:
        with lock:
            conn.send(message)

    ship = _Ship(send)
    logger = logging.getLogger(_PACKAGE_LOGGER)
    logger.handlers = [ship]  # inherited (forked) handlers would print a second copy
    logger.propagate = False
    # Other libraries' records (dataflows, SQLAlchemy) go to the parent too, rather than to
    # this worker's stderr: the parent's logging configuration decides what is shown.
    logging.getLogger().handlers = [ship]
    threading.Thread(target=_watch_parent, args=(parent,), name="dff-parent-watch",
                     daemon=True).start()
    from . import step  # noqa: F401  (a spawned worker imports dataflows before it says ready)

    send(("ready", None, None))

    ticket: int | None = None
    try:
        while True:
            _interrupt.check()
            message = conn.recv()
            if message is None:
                return
            ticket, call = message
            ship.ticket = ticket
            if call.context is not None:
                call.context.apply()

            def progress(_flow: str, resource: str, rows: int, ticket: int = ticket) -> None:
                send(("progress", ticket, (resource, rows)))

            payload = execute(call, progress)
            send(("done", ticket, payload))
            ticket = ship.ticket = None
    except _interrupt.Interrupted as stopped:
        if ticket is not None:
            with contextlib.suppress(Exception):
                send(("done", ticket, {"interrupted": stopped.signum}))
    except (EOFError, OSError):
        return


def _watch_parent(parent: int) -> None:
    """Stop this worker when its parent is gone (``kill -9``, OOM): no publish, then exit."""
    while os.getppid() == parent:
        time.sleep(0.2)
    _interrupt.request(0)
    with contextlib.suppress(OSError):
        os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(GRACE_SECONDS)
    os._exit(1)
