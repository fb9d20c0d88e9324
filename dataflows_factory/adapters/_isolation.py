"""Run one step in a warm worker process, for orchestrators whose tasks are threads.

Flows are CPU-bound pure Python: two steps run by two threads of one process share one GIL
and take turns. :func:`run_step_isolated` hands the step to a process pool instead and
waits for it, so concurrent tasks use separate cores:

- one pool per process, created on first use and reused (the first step pays for starting
  its worker), ``os.cpu_count()`` workers, shut down at exit and replaced when a worker
  dies (that step fails with a :class:`FlowExecutionError` saying so; retry it);
- workers come from a *forkserver* on Linux (forking a multi-threaded orchestrator process
  is unsafe), *spawn* elsewhere; each step first takes the caller's working directory,
  ``sys.path``, environment and log level, as a thread of the caller would see them;
- the worker loads the factory by its import reference (``Factory.get_ref()``, which plans
  record too); a factory without one (built inside a function) runs in the caller's thread;
- the step executor's log records are shipped back and re-emitted in the calling thread on
  the logger that emitted them, so a handler that follows that thread (an orchestrator
  task's logger) shows them as if the step had run there; a step's
  :class:`FlowExecutionError` is re-raised in the calling thread, unchanged.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import logging
import logging.handlers
import multiprocessing
import os
import pickle
import queue
import sys
import threading
import time
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Literal, get_args

from ..errors import FactoryError, FactoryRefError, FlowExecutionError
from ..factory import Factory, load_factory
from ..store import Store, redact
from .step import StepResult, run_step

__all__ = ["Isolation", "check_isolation", "run_step_isolated"]

Isolation = Literal["process", "thread"]
"""Where a task runs its step: ``"process"``, a worker process; ``"thread"``, the task's thread."""

log = logging.getLogger(__name__)

WORKER_DIED = "the worker process running this flow died (killed or out of memory)"
# How long a finished step's last log lines may take to arrive (they travel apart from
# the result): only a worker stuck while exiting makes the caller wait that long.
_DRAIN_SECONDS = 10.0
_PACKAGE_LOGGER = "dataflows_factory"


def check_isolation(isolation: str) -> Isolation:
    """``isolation`` if it is one of :data:`Isolation`'s values; a ``ValueError`` otherwise."""
    if isolation not in get_args(Isolation):
        raise ValueError(f"isolation must be 'process' or 'thread', not {isolation!r}")
    return isolation  # type: ignore[return-value]


def run_step_isolated(
    factory: Factory | str,
    flow_name: str,
    *,
    isolation: Isolation = "process",
    store: Store | None = None,
    force: bool = False,
    run_id: str | None = None,
    attempt: int = 1,
    partition: str | None = None,
) -> StepResult:
    """:func:`~dataflows_factory.adapters.step.run_step`, in a worker process or this thread.

    >>> run_step_isolated(factory, "cities", store=store)     # doctest: +SKIP
    StepResult(factory='world', flow='cities', status='succeeded', ...)

    With ``isolation="process"`` (and a factory that has an import reference) the calling
    thread waits for a worker of the shared pool, re-emitting the step's log records as
    they arrive; ``"thread"`` calls ``run_step`` here.
    """
    ref = _reference(factory) if isolation == "process" else None
    if ref is None:
        return run_step(factory, flow_name, store=store, force=force, run_id=run_id, attempt=attempt,
                        partition=partition)
    token = str(next(_TOKENS))
    call = (token, _Context.capture(), ref, flow_name, store, force, run_id, attempt, partition)
    inbox: queue.SimpleQueue[logging.LogRecord | None] = queue.SimpleQueue()
    with _ROUTES_LOCK:
        _ROUTES[token] = inbox
    try:
        # Submitted from a thread of its own: an orchestrator interrupts a task (Prefect's
        # timeouts) by raising an exception in its thread, and multiprocessing stopped
        # half-way leaves a started worker no one will stop, or a queued step that makes
        # the process wait forever at exit. Waiting on a future is not interrupted.
        submitted: Future[tuple[_Pool, Future[dict[str, Any]]]] = Future()
        threading.Thread(target=_submit, args=(submitted, call), name="dff-submit").start()
        pool, future = submitted.result()
        try:
            payload = _wait(future, inbox)
        except BrokenProcessPool as error:
            _discard(pool)
            raise FlowExecutionError(flow_name, WORKER_DIED, cause_type="WorkerDied",
                                     partition=partition) from error
    finally:
        with _ROUTES_LOCK:
            _ROUTES.pop(token, None)
    return StepResult.from_dict(payload)


def _submit(submitted: Future[tuple[_Pool, Future[dict[str, Any]]]], call: tuple[Any, ...]) -> None:
    try:
        pool = _current_pool()
        try:
            future = pool.executor.submit(_work, *call)
        except (BrokenProcessPool, RuntimeError):
            # Broken by a worker that died under another task, or shut down by the thread
            # that saw it die: the step has not started, so start it on a fresh pool.
            _discard(pool)
            pool = _current_pool()
            future = pool.executor.submit(_work, *call)
    except BaseException as error:
        submitted.set_exception(error)
    else:
        submitted.set_result((pool, future))


def _reference(factory: Factory | str) -> str | None:
    """The import reference a worker loads ``factory`` from; None when it has none."""
    if isinstance(factory, str):
        return factory
    try:
        return factory.get_ref()
    except FactoryRefError:
        log.info("factory %r has no import reference (it is not a module-level name of a module "
                 "or file): its flows run in the calling thread, not in a worker process",
                 factory.name)
        return None


def _wait(future: Future[dict[str, Any]], inbox: queue.SimpleQueue[logging.LogRecord | None]
          ) -> dict[str, Any]:
    """The step's result, once every log line it shipped was re-emitted here."""
    finished: float | None = None
    try:
        while True:
            try:
                # A short timeout: an orchestrator's timeout or cancellation interrupts
                # this thread only between two waits.
                record = inbox.get(timeout=0.05)
            except queue.Empty:
                if future.done():
                    if future.cancelled() or isinstance(future.exception(), BrokenProcessPool):
                        break  # a dead worker sends no end marker
                    finished = finished or time.monotonic()
                    if time.monotonic() - finished > _DRAIN_SECONDS:
                        break
                continue
            if record is None:  # the worker's end marker: all its lines arrived
                break
            _replay(record)
    except BaseException:
        # Interrupted (a task timeout, a cancellation): a step still queued never starts;
        # one already running finishes in its worker, like a thread that cannot be killed.
        future.cancel()
        raise
    try:
        return future.result()
    except CancelledError as error:  # cancelled by the pool's shutdown when it broke
        raise BrokenProcessPool("the pool was shut down") from error


def _replay(record: logging.LogRecord) -> None:
    # Handlers that forward one thread's records (orchestrator task loggers) filter on
    # the thread id: the record now comes from this thread.
    record.thread, record.threadName = threading.get_ident(), threading.current_thread().name
    logger = logging.getLogger(record.name)
    if logger.isEnabledFor(record.levelno):
        logger.handle(record)


# -- the pool (in the calling process) --------------------------------------------------------


class _Pool:
    """A process pool, the queue its workers ship log records on, and the thread routing them."""

    def __init__(self) -> None:
        method = "forkserver" if sys.platform.startswith("linux") else "spawn"
        context = multiprocessing.get_context(method)
        if method == "forkserver":
            # Workers fork from a server that imported the step executor (and dataflows)
            # once, instead of each importing them. The forkserver is one per process:
            # no effect if it already runs.
            context.set_forkserver_preload([__name__])
        self.logs: Any = context.Queue()
        self.executor = ProcessPoolExecutor(max_workers=os.cpu_count() or 1, mp_context=context,
                                            initializer=_init_worker, initargs=(self.logs,))
        self.stopped = threading.Event()
        self.router = threading.Thread(target=self._route, name="dff-worker-logs", daemon=True)
        self.router.start()

    def _route(self) -> None:
        """Hands each record to the caller waiting for the step that emitted it."""
        while not self.stopped.is_set():
            try:
                token, record = self.logs.get(timeout=0.2)
            except queue.Empty:
                continue
            except (EOFError, OSError, ValueError):  # the queue was closed
                return
            with _ROUTES_LOCK:
                inbox = _ROUTES.get(token)
            if inbox is not None:  # else: a line of a step whose caller stopped waiting
                inbox.put(record)

    def shutdown(self, *, wait: bool) -> None:
        self.executor.shutdown(wait=wait, cancel_futures=True)
        self.stopped.set()
        # A killed worker may have died holding the queue's lock: never block on it.
        self.logs.cancel_join_thread()
        self.logs.close()


_TOKENS = itertools.count(1)
# token of a submitted step -> where its caller waits for the step's log records.
_ROUTES: dict[str, queue.SimpleQueue[logging.LogRecord | None]] = {}
_ROUTES_LOCK = threading.Lock()
_LOCK = threading.Lock()
_STATE: dict[str, _Pool | None] = {"pool": None}


def _current_pool() -> _Pool:
    with _LOCK:
        pool = _STATE["pool"]
        if pool is None:
            pool = _STATE["pool"] = _Pool()
        return pool


def _discard(pool: _Pool) -> None:
    """Drop a broken pool (once, whichever task saw it break first); the next step makes one."""
    with _LOCK:
        if _STATE["pool"] is not pool:
            return
        _STATE["pool"] = None
    pool.shutdown(wait=False)


@atexit.register
def _shutdown() -> None:
    with _LOCK:
        pool, _STATE["pool"] = _STATE["pool"], None
    if pool is not None:
        pool.shutdown(wait=True)


def _after_fork_in_child() -> None:
    # A process forked from this one (the local runner's workers) must not use, nor shut
    # down, its parent's pool.
    global _LOCK, _ROUTES_LOCK
    _LOCK, _ROUTES_LOCK = threading.Lock(), threading.Lock()
    _STATE["pool"] = None
    _ROUTES.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)


# -- the worker side ----------------------------------------------------------------------------


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


_WORKER: dict[str, Any] = {"logs": None, "token": None}


class _ShipHandler(logging.handlers.QueueHandler):
    """Sends each record (message formatted, arguments dropped) with the running step's token."""

    def enqueue(self, record: logging.LogRecord) -> None:
        self.queue.put_nowait((_WORKER["token"], record))


def _init_worker(logs: Any) -> None:
    _WORKER["logs"] = logs
    logger = logging.getLogger(_PACKAGE_LOGGER)
    logger.addHandler(_ShipHandler(logs))
    logger.propagate = False


def _work(token: str, context: _Context, ref: str, flow_name: str, store: Store | None, force: bool,
          run_id: str | None, attempt: int, partition: str | None) -> dict[str, Any]:
    _WORKER["token"] = token
    try:
        context.apply()
        return run_step(load_factory(ref), flow_name, store=store, force=force, run_id=run_id,
                        attempt=attempt, partition=partition).to_dict()
    except Exception as error:
        if _round_trips(error):
            raise
        # The caller could not unpickle it (and the pool would call itself broken): send
        # what the local runner reports for such an error, one line naming the flow.
        processor = getattr(error, "processor", None) or (
            "flow function" if isinstance(error, FactoryError) else None)
        raise FlowExecutionError(flow_name, redact(str(error) or repr(error)), processor=processor,
                                 cause_type=type(error).__name__, partition=partition) from error
    finally:
        _WORKER["token"] = None
        _WORKER["logs"].put((token, None))


def _round_trips(error: BaseException) -> bool:
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return False
    return True
