"""The one worker pool: steps run in warm worker processes, for the local runner and Prefect.

Flows are CPU-bound pure Python, so steps that should run side by side run in worker
processes, each running one step at a time through :func:`~.step.run_step`. The pool is the
only place that starts, feeds and stops them:

- **Starting.** ``"fork"`` workers copy the caller (the local runner's CLI process: cheap,
  and a factory built in a notebook or a test, with no import reference, is inherited).
  ``"spawn"`` workers, for callers with threads where forking is unsafe (Prefect's flow
  runs), are forked by a fresh interpreter (``python -c``, not ``multiprocessing``) that
  imported the step executor once (:class:`_Zygote`): they load the factory by import
  reference and **never import the caller's ``__main__``**, so a script without an
  ``if __name__ == "__main__":`` guard is not re-run. ``"thread"`` runs steps in threads of
  the caller: the fallback where worker processes cannot be used (said once, in a warning).
- **Talking.** One socket per worker carries the step (a :class:`~._worker.Call`) one way and its
  events back: progress, the step executor's log records (re-emitted by the caller, on the
  logger that emitted them, in the thread that waits) and one ``done`` payload, which is
  either ``{"result": StepResult dict}`` or ``{"error": FlowExecutionError dict}``: one error
  payload whatever the engine (:func:`error_payload`).
- **Stopping.** :meth:`WorkerPool.interrupt` (the caller got SIGINT or SIGTERM) makes every
  worker raise :class:`~._interrupt.Interrupted` where it stands: no flow publishes after the
  signal, staging folders are removed, and workers that do not stop in time are killed.
  A worker whose parent died (``kill -9``, the OOM killer) notices within 0.2 s, stops the
  same way and exits; a worker that died is reported as such and replaced.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import logging
import logging.handlers
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import replace
from multiprocessing.connection import Connection, wait
from typing import Any, Literal, get_args

from ..errors import FactoryRefError, FlowExecutionError
from ..factory import Factory
from . import _interrupt
from ._worker import (
    _PACKAGE_LOGGER,
    GRACE_SECONDS,
    Call,
    _Context,
    _serve,
    as_error,
    error_payload,
    execute,
    registered,
)

__all__ = ["Call", "Isolation", "Start", "WorkerPool", "as_error", "check_isolation", "error_payload",
           "execute", "registered", "run_in_worker", "start_method", "worker_reference"]

Start = Literal["fork", "spawn", "thread"]
Isolation = Literal["process", "thread"]
"""Where an orchestrator task runs its step: ``"process"``, a worker; ``"thread"``, its own thread."""
Event = tuple[int, str, Any]
"""``(ticket, kind, data)``: ``"progress"`` (resource, rows), ``"log"`` (a LogRecord),
``"done"`` (the payload: ``{"result": ...}``, ``{"error": ...}`` or ``{"interrupted": signum}``)."""

log = logging.getLogger(__name__)

WORKER_DIED = "the worker process running this flow died (killed or out of memory)"


def check_isolation(isolation: str) -> Isolation:
    """``isolation`` if it is one of :data:`Isolation`'s values; a ``ValueError`` otherwise."""
    if isolation not in get_args(Isolation):
        raise ValueError(f"isolation must be 'process' or 'thread', not {isolation!r}")
    return isolation  # type: ignore[return-value]


def start_method() -> Start:
    """How the local runner starts workers: ``$DFF_WORKERS`` if set (``fork``, ``spawn`` or
    ``thread``), else ``"fork"`` for a single-threaded POSIX caller and ``"spawn"`` otherwise
    (forking a process that has threads can deadlock the child)."""
    chosen = os.environ.get("DFF_WORKERS", "").strip().lower()
    if chosen in get_args(Start) and (chosen != "fork" or hasattr(os, "fork")):
        return chosen  # type: ignore[return-value]
    if hasattr(os, "fork") and threading.active_count() == 1:
        return "fork"
    return "spawn"


# -- the pool (in the calling process) --------------------------------------------------------


class _Worker:
    """One worker process and the parent's end of its socket."""

    def __init__(self, conn: Connection, pid: int, *, child: bool) -> None:
        self.conn, self.pid = conn, pid
        self.child = child  # forked by this process (else by the zygote, which reaps it)
        self.ticket: int | None = None
        self.call: Call | None = None
        self.ready = False  # it said so once its imports were done

    def reap(self) -> None:
        if self.child:
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(self.pid, 0)

    def signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(self.pid, signum)


class WorkerPool:
    """Up to ``size`` worker processes; each :meth:`submit` returns a ticket whose events go
    to the queue given with it.

    >>> pool = WorkerPool(2, start="spawn")                        # doctest: +SKIP
    >>> events = queue.SimpleQueue()
    >>> ticket = pool.submit(Call("cities", "cities", ref="world/factory.py"), events)
    >>> events.get()                                               # (ticket, "log", record) ...
    """

    def __init__(self, size: int, *, start: Start = "spawn") -> None:
        self.size = max(1, size)
        self.start = start
        self._tickets = itertools.count(1)
        self._lock = threading.RLock()
        self._workers: list[_Worker] = []
        self._pending: deque[tuple[int, Call, queue.SimpleQueue[Event]]] = deque()
        self._events: dict[int, queue.SimpleQueue[Event]] = {}
        self._closed = False
        self._stopping = False
        self._reader: threading.Thread | None = None
        self._zygote: _Zygote | None = None

    # -- public --------------------------------------------------------------------------------

    def submit(self, call: Call, events: queue.SimpleQueue[Event]) -> int:
        ticket = next(self._tickets)
        if self.start == "thread":
            threading.Thread(target=self._run_in_thread, args=(ticket, call, events),
                             name=f"dff-step-{call.unit}", daemon=True).start()
            return ticket
        with self._lock:
            if self._closed:
                raise RuntimeError("the worker pool is closed")
            self._events[ticket] = events
            self._pending.append((ticket, call, events))
            try:
                self._dispatch()
            except OSError:  # no worker could be started: the caller decides what to do
                self._pending.remove((ticket, call, events))
                self._events.pop(ticket, None)
                raise
            if self._reader is None:
                self._reader = threading.Thread(target=self._read, name="dff-workers", daemon=True)
                self._reader.start()
        return ticket

    def cancel(self, ticket: int) -> None:
        """Stop one step: dropped if it has not started, interrupted (no publish) if it has."""
        with self._lock:
            for item in list(self._pending):
                if item[0] == ticket:
                    self._pending.remove(item)
                    item[2].put((ticket, "done", {"interrupted": signal.SIGTERM}))
                    return
            for worker in self._workers:
                if worker.ticket == ticket:
                    worker.signal(signal.SIGTERM)

    def interrupt(self, signum: int = signal.SIGTERM) -> None:
        """Stop every step now (the caller was interrupted) and close the pool.

        Running steps raise :class:`~._interrupt.Interrupted` in their workers and report
        ``{"interrupted": signum}``; steps not started report the same; a worker still alive
        after :data:`GRACE_SECONDS` is killed.
        """
        with self._lock:
            self._stopping = True
            pending, self._pending = list(self._pending), deque()
            workers = list(self._workers)
        for ticket, _call, events in pending:
            events.put((ticket, "done", {"interrupted": signum}))
        for worker in workers:
            worker.signal(signal.SIGTERM)
        deadline = time.monotonic() + GRACE_SECONDS
        while time.monotonic() < deadline:
            with self._lock:
                if not self._workers:
                    break
            time.sleep(0.02)
        with self._lock:
            left = list(self._workers)
        for worker in left:
            worker.signal(signal.SIGKILL)
        self.close()

    def close(self) -> None:
        """Let idle workers exit; kill none that still runs a step (they finish first)."""
        with self._lock:
            self._closed = True
            workers = list(self._workers)
        for worker in workers:
            with contextlib.suppress(OSError):
                if worker.ticket is None:
                    worker.conn.send(None)
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(timeout=GRACE_SECONDS + 5)
        for worker in workers:
            worker.reap()
        if self._zygote is not None:
            self._zygote.close()

    # -- internals ------------------------------------------------------------------------------

    def _run_in_thread(self, ticket: int, call: Call, events: queue.SimpleQueue[Event]) -> None:
        def progress(_flow: str, resource: str, rows: int) -> None:
            events.put((ticket, "progress", (resource, rows)))

        try:
            payload = execute(call, progress)
        except _interrupt.Interrupted as stopped:
            payload = {"interrupted": stopped.signum}
        events.put((ticket, "done", payload))

    def _dispatch(self) -> None:
        """Hand pending steps to idle workers, starting workers up to ``size`` (lock held)."""
        while self._pending:
            worker = next((w for w in self._workers if w.ticket is None), None)
            if worker is None:
                if len(self._workers) >= self.size:
                    return
                worker = self._spawn()
                self._workers.append(worker)
            ticket, call, _events = self._pending.popleft()
            worker.ticket, worker.call = ticket, call
            try:
                worker.conn.send((ticket, call))
            except OSError:
                worker.ticket = worker.call = None
                self._pending.appendleft((ticket, call, _events))
                self._lost(worker)

    def _spawn(self) -> _Worker:
        if self.start == "spawn":
            if self._zygote is None:
                self._zygote = _Zygote()
            conn, pid = self._zygote.fork()
            return _Worker(conn, pid, child=False)
        parent_end, child_end = socket.socketpair()
        siblings = [w.conn for w in self._workers]
        pid = os.fork()
        if pid == 0:  # the worker
            code = 0
            try:
                parent_end.close()
                for conn in siblings:
                    with contextlib.suppress(OSError):
                        conn.close()
                _serve(Connection(child_end.detach()), os.getppid())
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        child_end.close()
        return _Worker(Connection(parent_end.detach()), pid, child=True)

    def _read(self) -> None:
        """Routes each worker's events to the queue of its step; notices dead workers."""
        while True:
            with self._lock:
                conns = {w.conn: w for w in self._workers}
                if self._closed and not conns:
                    return
            if not conns:
                time.sleep(0.05)
                continue
            for conn in wait(list(conns), timeout=0.1):
                worker = conns[conn]  # type: ignore[index]
                try:
                    message = worker.conn.recv()
                except (EOFError, OSError):
                    self._lost(worker)
                    continue
                except Exception as error:  # a record or result that could not be unpickled
                    message = ("log", worker.ticket, _unreadable(error))
                worker.ready = True
                if message[0] != "ready":
                    self._route(worker, *message)

    def _route(self, worker: _Worker, kind: str, ticket: int, data: Any) -> None:
        events = self._events.get(ticket)
        if events is None:
            return
        if kind != "done":
            events.put((ticket, kind, data))
            return
        with self._lock:
            self._events.pop(ticket, None)
            worker.ticket = worker.call = None
            if self._closed or self._stopping:
                with contextlib.suppress(OSError):
                    worker.conn.send(None)
            else:
                self._dispatch_in_reader()
        events.put((ticket, "done", data))

    def _dispatch_in_reader(self) -> None:
        """:meth:`_dispatch` from the reader thread: a worker that cannot be started fails
        the steps waiting for one, instead of the thread (lock held)."""
        try:
            self._dispatch()
        except OSError as error:
            for ticket, _call, events in self._pending:
                self._events.pop(ticket, None)
                events.put((ticket, "done", {"unstartable": str(error)}))
            self._pending.clear()

    def _lost(self, worker: _Worker) -> None:
        """A worker's socket closed: it exited or died; fail its step, replace it if needed."""
        with self._lock:
            if worker not in self._workers:
                return
            self._workers.remove(worker)
            ticket, call = worker.ticket, worker.call
            events = self._events.pop(ticket, None) if ticket is not None else None
            stopping = self._stopping
        with contextlib.suppress(OSError):
            worker.conn.close()
        worker.reap()
        if events is not None and call is not None:
            if stopping:
                payload: dict[str, Any] = {"interrupted": signal.SIGTERM}
            elif not worker.ready:
                # It died before it could take any step: an environment that cannot run
                # workers (its own error is on stderr), not a flow that killed one.
                payload = {"unstartable": f"worker process {worker.pid} exited while starting"}
            else:
                payload = {"error": FlowExecutionError(
                    call.flow, WORKER_DIED, cause_type="WorkerDied", partition=call.partition
                ).to_dict()}
            events.put((ticket, "done", payload))  # type: ignore[arg-type]
        with self._lock:
            if not self._closed and not self._stopping:
                self._dispatch_in_reader()


def _unreadable(error: Exception) -> logging.LogRecord:
    return logging.makeLogRecord({"name": _PACKAGE_LOGGER, "levelno": logging.WARNING,
                                  "levelname": "WARNING",
                                  "msg": f"a worker sent a message that could not be read: {error}"})


def _worker_env() -> dict[str, str]:
    # The worker must import this package even when the caller found it through sys.path
    # (a source checkout) rather than an installation.
    env = dict(os.environ)
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH", "")) if p)
    return env


# -- the worker side ----------------------------------------------------------------------------


class _Zygote:
    """A fresh interpreter that imported the step executor (and dataflows) once and forks a
    worker on request: workers for callers with threads start in milliseconds, and none of
    them ever imports the caller's ``__main__`` (Python's forkserver would)."""

    def __init__(self) -> None:
        if not sys.executable:
            raise OSError("this interpreter does not know its executable (sys.executable is empty)")
        ours, theirs = socket.socketpair()
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from dataflows_factory.adapters._worker import main; main()",
             str(theirs.fileno()), str(os.getpid())],
            pass_fds=(theirs.fileno(),), env=_worker_env(), close_fds=True)
        theirs.close()
        self.socket = ours
        self.lock = threading.Lock()

    def fork(self) -> tuple[Connection, int]:
        """A new worker: the parent's end of its socket, and its pid."""
        ours, theirs = socket.socketpair()
        try:
            with self.lock:
                socket.send_fds(self.socket, [b"fork"], [theirs.fileno()])
                answer = self.socket.recv(32)
        finally:
            theirs.close()
        if not answer:
            ours.close()
            self.process.wait()
            raise OSError(f"the worker starter exited with code {self.process.returncode} "
                          "(its error is above, on stderr)")
        return Connection(ours.detach()), int(answer)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.socket.close()
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            self.process.wait(timeout=5)


# -- one step, waited for in the calling thread (orchestrators whose tasks are threads) ---------

_SHARED: dict[str, Any] = {"pool": None, "broken": False}
_SHARED_LOCK = threading.Lock()
_WARNED: set[str] = set()


def shared_pool() -> WorkerPool:
    """This process's pool for orchestrator tasks: spawned workers, one per core."""
    with _SHARED_LOCK:
        pool: WorkerPool | None = _SHARED["pool"]
        if pool is None:
            pool = _SHARED["pool"] = WorkerPool(os.cpu_count() or 1, start="spawn")
        return pool


@atexit.register
def _close_shared() -> None:
    with _SHARED_LOCK:
        pool, _SHARED["pool"] = _SHARED["pool"], None
    if pool is not None:
        pool.close()


def _after_fork_in_child() -> None:
    # A process forked from this one (a local runner's worker) must not use its parent's pool.
    global _SHARED_LOCK
    _SHARED_LOCK = threading.Lock()
    _SHARED["pool"] = None


os.register_at_fork(after_in_child=_after_fork_in_child)


def _warn_once(key: str, message: str, *args: Any) -> None:
    if key not in _WARNED:
        _WARNED.add(key)
        log.warning(message, *args)


def worker_reference(factory: Factory | str) -> str | None:
    """The import reference a spawned worker can load ``factory`` from, or None (then the
    step runs in the calling thread: a factory with no reference, or one defined in the
    script being run, which a worker could only load by running that script again)."""
    try:
        ref = factory if isinstance(factory, str) else factory.get_ref()
    except FactoryRefError:
        log.info("factory %r has no import reference (it is not a module-level name of a module "
                 "or file): its flows run in the calling thread, not in a worker process",
                 getattr(factory, "name", factory))
        return None
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    target = ref.rpartition(":")[0] if ref.count(":") and not ref.endswith(".py") else ref
    if main_file and os.path.abspath(target) == os.path.abspath(main_file):
        name = getattr(factory, "name", ref)
        _warn_once(f"main:{name}",
                   "factory %r is defined in the script being run (%s): a worker process could load "
                   "it only by running the script again, so its flows run in threads of this "
                   "process; move the factory into a module of its own to use worker processes",
                   name, main_file)
        return None
    return ref


def run_in_worker(call: Call, factory: Factory | None = None) -> dict[str, Any]:
    """Run ``call`` in the shared pool and wait here, re-emitting its log records in this
    thread; falls back to this thread (one warning) when worker processes cannot start."""
    events: queue.SimpleQueue[Event] = queue.SimpleQueue()
    if _SHARED.get("broken"):
        return execute(call, factory=factory)
    try:
        pool = shared_pool()
        ticket = pool.submit(replace_context(call), events)
    except (OSError, RuntimeError, ValueError) as error:
        _warn_once("spawn", "worker processes cannot be started here (%s): flows run in threads "
                   "of this process", error)
        return execute(call, factory=factory)
    try:
        while True:
            _ticket, kind, data = next_event(events)
            if kind == "log":
                replay(data)
            elif kind == "done" and "unstartable" in data:
                _warn_once("spawn", "worker processes cannot be started here (%s): flows run in "
                           "threads of this process", data["unstartable"])
                _SHARED["broken"] = True
                return execute(call, factory=factory)
            elif kind == "done":
                return dict(data)
    except BaseException:
        # Interrupted (a task timeout, a cancellation): the step stops in its worker,
        # publishing nothing.
        pool.cancel(ticket)
        raise


def next_event(events: queue.SimpleQueue[Event], timeout: float | None = None) -> Event:
    """The next event, waiting in short steps: an orchestrator's timeout or cancellation
    (an exception raised in this thread) lands between two of them.

    Kept in a function of its own: on CPython 3.11 an exception raised in a thread at a
    ``continue`` inside ``except queue.Empty:`` escapes the enclosing ``try`` unhandled.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        try:
            return events.get(timeout=0.05)
        except queue.Empty:
            if deadline is not None and time.monotonic() >= deadline:
                raise


def replace_context(call: Call) -> Call:
    return replace(call, context=_Context.capture())


def replay(record: logging.LogRecord) -> None:
    """Emit a worker's record here, as if this thread had logged it."""
    # Handlers that forward one thread's records (orchestrator task loggers) filter on
    # the thread id: the record now comes from this thread.
    record.thread, record.threadName = threading.get_ident(), threading.current_thread().name
    logger = logging.getLogger(record.name)
    if logger.isEnabledFor(record.levelno):
        logger.handle(record)
