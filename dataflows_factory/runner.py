"""The embedded default orchestrator: runs a plan on this machine, in parallel, cached.

The plan's units (flows, partitions' parts, merges) run in worker processes of the one
pool (``jobs``, default = cores), in the order a :class:`~.adapters.plan.Schedule` allows:
a failed unit stops only what is below it, and every failure is reported. Flows whose
fingerprint is unchanged are skipped by the step executor. Every run writes a manifest of
its step results to ``<store>/<factory>/_runs/<run_id>.json``.

SIGINT (Ctrl-C), SIGTERM or SIGHUP stop the run within about two seconds: running steps stop in
their workers without publishing, the manifest records the run as interrupted with what
had finished, and :attr:`RunReport.interrupted` names the signal.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from types import FrameType
from typing import Any

from ._secrets import redact_value
from .adapters import _interrupt
from .adapters.plan import Plan, Schedule, Unit
from .adapters.pool import (
    Call,
    Start,
    WorkerPool,
    next_event,
    registered,
    replace_context,
    replay,
    shared_pool,
    start_method,
    worker_reference,
)
from .adapters.results import FAILED, SKIPPED, SUCCEEDED, StepResult, new_run_id, now
from .adapters.sample import sample_selection, sample_store
from .errors import FlowExecutionError
from .factory import Factory, load_factory
from .lineage import ParentRun, local_run
from .store import Store

__all__ = ["INTERRUPTED", "UPSTREAM_FAILED", "RunReport", "run"]

log = logging.getLogger(__name__)

UPSTREAM_FAILED = "upstream_failed"
INTERRUPTED = "interrupted"


@dataclass
class RunReport:
    """The outcome of one local run: a :class:`StepResult` per step, in plan order."""

    run_id: str
    factory: str
    store: str
    started_at: str
    finished_at: str = ""
    results: dict[str, StepResult] = field(default_factory=dict)
    manifest: str = ""
    plan: list[str] = field(default_factory=list)
    interrupted: str | None = None
    """The signal that stopped the run (``"SIGINT"``, ``"SIGTERM"``), or None."""
    limit: int | None = None
    """A sample run's rows per source (its datasets are in a scratch store), or None."""

    @property
    def ok(self) -> bool:
        return self.interrupted is None and all(
            r.status in (SUCCEEDED, SKIPPED) for r in self.results.values())

    @property
    def failed(self) -> list[StepResult]:
        return [r for r in self.results.values() if r.status == FAILED]

    def status(self, flow: str) -> str:
        return self.results[flow].status

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "factory": self.factory,
            "store": self.store,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "ok": self.ok,
            "interrupted": self.interrupted,
            "limit": self.limit,
            "plan": self.plan,
            "steps": {name: result.to_dict() for name, result in self.results.items()},
        }


def run(
    factory: Factory | str,
    *,
    select: str | Iterable[str] | None = None,
    jobs: int | None = None,
    force: bool = False,
    store: str | os.PathLike[str] | Store | None = None,
    run_id: str | None = None,
    show_progress: bool | None = None,
    resume: bool = False,
    limit: int | None = None,
    in_process: bool = False,
    lineage_parent: ParentRun | None = None,
) -> RunReport:
    """Run ``factory`` (or the ``select``-ed part of it) on this machine.

    ``resume=True`` runs only what the last run (of the same selection) did not finish:
    its failed flows, the flows it never reached, and their downstream.

    ``limit=N`` is a sample run (:mod:`.adapters.sample`): every source hands on at most N
    rows, the selected flows' upstream flows run too, and everything, the manifest included,
    goes to a scratch store (``store``, default ``.dff-sample/`` beside the factory file),
    never the factory's own. ``in_process=True`` runs the steps in threads of this process,
    so ``breakpoint()`` in a flow stops here (with ``jobs=1``, one flow at a time).

    With OpenLineage configured, the run is a run of job ``<factory>`` and the parent of
    its steps' runs; ``lineage_parent`` (an orchestrator's task) replaces it as their parent.
    A sample run emits nothing.
    """
    factory = load_factory(factory)
    # The Store object (not its URL) goes to the workers: it carries the credentials that
    # a URL like s3://KEY:SECRET@bucket gave, which plans and manifests never hold.
    if limit is not None:
        select, target = sample_selection(factory, select), sample_store(factory, store)
    else:
        target = factory.store(store)
    plan = factory.plan(select=select, store=target)
    if resume:
        unfinished = _unfinished(target, plan)
        plan = plan.select(unfinished) if unfinished else replace(plan, steps=())
    report = RunReport(run_id=run_id or new_run_id(), factory=factory.name,
                       store=target.display_url, started_at=now(), plan=list(plan.names),
                       limit=limit)
    report.manifest = f"{target.runs_url(factory.name)}/{report.run_id}.json"
    jobs = max(1, jobs or os.cpu_count() or 1)
    units = plan.units()
    start: Start = "thread" if in_process else start_method()
    if start == "spawn" and worker_reference(factory) is None:
        start = "thread"  # no way for a fresh interpreter to load this factory
    with registered(factory) as key, _Stop(report.run_id, thread_steps=start == "thread") as stop, \
            _Display(units, show_progress) as display:
        run_lineage, step_parent = (None, None) if limit is not None else local_run(
            factory, report.run_id, lineage_parent)
        try:
            _Scheduler(plan, units, key, target, report, jobs, force, display, stop, start,
                       step_parent).run()
        except BaseException as error:  # not a flow's failure (those are in the report)
            if run_lineage is not None:
                run_lineage.abort(error)
            raise
    order = [unit.id for unit in units]
    report.results = {name: report.results[name] for name in order if name in report.results}
    report.finished_at = now()
    _write_manifest(target, report)
    if run_lineage is not None:
        run_lineage.finish(report)
    return report


def _write_manifest(store: Store, report: RunReport) -> None:
    # Whole-value: the manifest holds error texts and tracebacks, whatever produced them.
    store.write_json(report.manifest, redact_value(report.to_dict()))


def _unfinished(store: Store, plan: Plan) -> list[str]:
    """Flows of ``plan`` that the latest run planning them did not finish, plus downstream.

    A flow is finished when the latest run that planned it recorded it as succeeded or
    skipped; a flow no run planned (or a run killed before recording it) is unfinished.
    """
    manifests = []
    for name in store.list_runs(plan.factory)[-50:]:
        manifest = store.read_json(f"{store.runs_url(plan.factory)}/{name.rsplit('/', 1)[-1]}")
        if isinstance(manifest, dict):
            manifests.append(manifest)
    # Run ids sort by the second only; the start time in the manifest has milliseconds.
    manifests.sort(key=lambda m: str(m.get("started_at", "")), reverse=True)
    finished: dict[str, bool] = {}
    for manifest in manifests:
        steps = manifest.get("steps", {})
        for flow in manifest.get("plan") or steps:
            if flow in plan.names and flow not in finished:
                finished[flow] = steps.get(flow, {}).get("status") in (SUCCEEDED, SKIPPED)
    chosen = {name for name in plan.names if not finished.get(name, False)}
    for name in list(chosen):
        chosen.update(plan.downstream(name))
    return [name for name in plan.names if name in chosen]


class _Stop:
    """While a run lasts, SIGINT, SIGTERM and SIGHUP (a closed terminal) ask it to stop
    instead of raising in the middle of the scheduler (only in the main thread, where Python
    delivers signals)."""

    def __init__(self, run_id: str, *, thread_steps: bool) -> None:
        self.run_id = run_id
        self.signum: int | None = None
        self.thread_steps = thread_steps
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _Stop:
        if threading.current_thread() is threading.main_thread():
            for signum in _interrupt.STOP_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum = signum
        if self.thread_steps:
            # Steps in threads cannot be stopped where they stand: none of this run's
            # steps may publish from now on, even after run() has returned.
            _interrupt.stop_run(self.run_id, signum)

    def __exit__(self, *exc: object) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)


class _Scheduler:
    """Feeds ready units to the pool and records what comes back; the plan's Schedule
    decides what is ready and what a failure blocks."""

    def __init__(self, plan: Plan, units: tuple[Unit, ...], key: str, store: Store,
                 report: RunReport, jobs: int, force: bool, display: _Display, stop: _Stop,
                 start: Start, lineage_parent: ParentRun | None = None) -> None:
        self.plan, self.key, self.store = plan, key, store
        self.report, self.jobs, self.force, self.display = report, jobs, force, display
        self.stop = stop
        # Crosses to the workers in each Call, as a dict (plain data in every pickle).
        self.lineage_parent = lineage_parent.to_dict() if lineage_parent is not None else None
        # A caller with threads (an orchestrator's task: a Prefect task, a Dagster op, a
        # group task) gets spawned workers: it borrows the process's shared pool, warm after
        # its first use, instead of paying `import dataflows` in fresh workers at every run.
        self.borrowed = start == "spawn"
        self.pool = shared_pool() if self.borrowed else WorkerPool(jobs, start=start)
        self.schedule = Schedule(units)
        self.events: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.running: dict[int, Unit] = {}  # ticket -> unit
        self.attempts: dict[str, int] = {}
        self.not_before: dict[str, float] = {}  # unit -> when its retry may start

    def run(self) -> None:
        try:
            while not self.schedule.done:
                if self.stop.signum is not None:
                    self._interrupt(self.stop.signum)
                    return
                self._submit_ready()
                try:
                    ticket, kind, data = next_event(self.events, self._timeout())
                except queue.Empty:
                    pass
                else:
                    self._handle(ticket, kind, data)
        finally:
            if not self.borrowed:
                self.pool.close()

    def _timeout(self) -> float:
        waits = [t - time.monotonic() for t in self.not_before.values()]
        return max(0.0, min([0.1, *waits]))

    def _submit_ready(self) -> None:
        now = time.monotonic()
        for unit in self.schedule.ready():
            if len(self.running) >= self.jobs:
                return
            if self.not_before.get(unit.id, 0.0) > now:
                continue
            self.not_before.pop(unit.id, None)
            self.schedule.start(unit.id)
            attempt = self.attempts[unit.id] = self.attempts.get(unit.id, 0) + 1
            self.display.start(unit.id, attempt)
            self._submit(unit, attempt)

    def _submit(self, unit: Unit, attempt: int) -> None:
        call = Call(unit.id, unit.flow, unit.partition, ref=self.plan.factory_ref, key=self.key,
                    store=self.store, force=self.force, run_id=self.report.run_id, attempt=attempt,
                    limit=self.report.limit, lineage_parent=self.lineage_parent)
        if self.borrowed:  # long-lived workers: give them this caller's cwd, path and env
            call = replace_context(call)
        try:
            ticket = self.pool.submit(call, self.events)
        except OSError as error:
            self._fall_back(str(error))
            ticket = self.pool.submit(call, self.events)
        self.running[ticket] = unit

    def _fall_back(self, reason: str) -> None:
        """Threads instead of worker processes, for the rest of the run (said once)."""
        log.warning("worker processes cannot be started here (%s): flows run in threads of this "
                    "process", reason)
        if not self.borrowed:
            self.pool.close()
        self.pool, self.borrowed = WorkerPool(self.jobs, start="thread"), False
        self.stop.thread_steps = True

    def _handle(self, ticket: int, kind: str, data: Any) -> None:
        unit = self.running.get(ticket)
        if unit is None:
            return
        if kind == "progress":
            self.display.progress_rows(unit.id, data[1])
        elif kind == "log":
            replay(data)
        elif kind == "done" and "unstartable" in data:
            del self.running[ticket]
            self._fall_back(data["unstartable"])
            self._submit(unit, self.attempts[unit.id])
        elif kind == "done":
            del self.running[ticket]
            self._finish(unit, data)

    def _finish(self, unit: Unit, payload: dict[str, Any]) -> None:
        attempt = self.attempts[unit.id]
        if "result" in payload:
            self.schedule.finish(unit.id, ok=True)
            self._record(unit, StepResult.from_dict(payload["result"]))
            return
        if "interrupted" in payload and self._run_interrupted():
            self._record(unit, self._result(unit, INTERRUPTED, attempt, None))
            return
        error = payload.get("error") or _interrupted_error(unit, payload.get("interrupted"))
        if attempt <= unit.step.retries:
            self.schedule.retry(unit.id)
            self.not_before[unit.id] = time.monotonic() + unit.step.retry_delay
            self.display.retrying(unit.id, attempt, error["text"])
            return
        self._record(unit, self._result(unit, FAILED, attempt, error))
        for blocked in self.schedule.finish(unit.id, ok=False):
            below = self.schedule.units[blocked]
            self._record(below, self._result(below, UPSTREAM_FAILED, 0, None))

    def _run_interrupted(self, wait: float = 0.5) -> bool:
        """Whether this run got a signal; a Ctrl-C reaches the workers and this process at
        once, so a worker's report may come first: give the handler a moment to run."""
        deadline = time.monotonic() + wait
        while self.stop.signum is None and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.stop.signum is not None

    def _interrupt(self, signum: int) -> None:
        """Stop every running step (none publishes), record what finished, drop the rest."""
        if self.borrowed:  # others' steps may run in the shared pool: stop only this run's
            for ticket in self.running:
                self.pool.cancel(ticket)
        else:
            self.pool.interrupt(signum)
        self.report.interrupted = signal.Signals(signum).name
        while self.running:
            try:
                ticket, kind, data = self.events.get(timeout=0.5)
            except queue.Empty:
                break
            if kind != "done" or ticket not in self.running:
                continue
            unit = self.running.pop(ticket)
            if "result" in data:  # finished (and published) before the signal
                self._record(unit, StepResult.from_dict(data["result"]))
            else:
                self._record(unit, self._result(unit, INTERRUPTED, self.attempts[unit.id], None))
        for unit in self.running.values():  # no word from its worker: stopped mid-step
            self._record(unit, self._result(unit, INTERRUPTED, self.attempts[unit.id], None))
        self.running.clear()
        self.schedule.cancel()

    def _result(self, unit: Unit, status: str, attempt: int, error: dict[str, Any] | None
                ) -> StepResult:
        return StepResult(factory=self.plan.factory, flow=unit.flow, status=status,
                          dataset_uri=unit.step.output, run_id=self.report.run_id,
                          started_at=now() if status == UPSTREAM_FAILED else "",
                          finished_at=now(), attempt=attempt, error=error,
                          partition=unit.partition)

    def _record(self, unit: Unit, result: StepResult) -> None:
        self.report.results[unit.id] = result
        self.display.finish(unit.id, result)
        _write_manifest(self.store, self.report)


def _interrupted_error(unit: Unit, signum: int | None) -> dict[str, Any]:
    # A worker stopped by a signal of its own (not the run's): a failed try, retried as any.
    name = signal.Signals(signum).name if signum else "a signal"
    return FlowExecutionError(unit.flow, f"its worker process received {name}",
                              cause_type="Interrupted", partition=unit.partition).to_dict()


class _Display:
    """Progress bars per unit (rows seen, rows/s), fed by the scheduler with workers' events."""

    def __init__(self, units: tuple[Unit, ...], enabled: bool | None) -> None:
        from rich.console import Console

        self.console = Console(stderr=True, markup=False)
        self.enabled = self.console.is_terminal if enabled is None else enabled
        self.units = units
        self.tasks: dict[str, Any] = {}
        self.progress: Any = None

    def __enter__(self) -> _Display:
        if self.enabled:
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self.progress = Progress(
                # A unit's name is shown as it is (``sales[raw/a.csv]`` is no markup).
                SpinnerColumn(), TextColumn("{task.fields[flow]}", style="bold", markup=False),
                TextColumn("{task.fields[state]}"), TextColumn("{task.completed:,.0f} rows"),
                TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
                console=self.console, transient=False,
            )
            self.progress.start()
            for unit in self.units:
                self.tasks[unit.id] = self.progress.add_task(
                    unit.id, flow=unit.id, state="waiting", rate="", total=None, start=False)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def progress_rows(self, unit: str, rows: int) -> None:
        task = self.tasks.get(unit)
        if task is not None:
            elapsed = self.progress.tasks[task].elapsed or 0.0
            rate = f"{rows / elapsed:,.0f} rows/s" if elapsed > 0 else ""
            self.progress.update(task, completed=rows, rate=rate)

    def start(self, flow: str, attempt: int) -> None:
        if self.progress is not None:
            self.progress.start_task(self.tasks[flow])
            state = "running" if attempt == 1 else f"running (attempt {attempt})"
            self.progress.update(self.tasks[flow], state=state)

    def retrying(self, flow: str, attempt: int, error: str) -> None:
        from rich.text import Text

        self.console.print(Text(f"flow {flow!r} attempt {attempt} failed, retrying:", style="yellow"),
                           error, markup=False, highlight=False)

    def finish(self, unit: str, result: StepResult) -> None:
        if self.progress is not None:
            colour = {SUCCEEDED: "green", SKIPPED: "cyan"}.get(result.status, "red")
            task = self.tasks[unit]
            self.progress.update(task, state=f"[{colour}]{result.status}[/]",
                                 completed=result.total_rows)
            self.progress.stop_task(task)
