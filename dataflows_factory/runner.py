"""The embedded default orchestrator: runs a plan on this machine, in parallel, cached.

Independent flows run in separate processes (``jobs``, default = cores). A failed flow
stops only its downstream; every failure is reported. Flows whose fingerprint is unchanged
are skipped by the step executor. Every run writes a manifest of its step results to
``<store>/<factory>/_runs/<run_id>.json``.
"""

from __future__ import annotations

import multiprocessing
import os
import queue as queue_module
import threading
import time
import traceback
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from typing import Any

from .adapters.plan import Plan, StepPlan
from .adapters.step import FAILED, SKIPPED, SUCCEEDED, StepResult, _now, new_run_id, run_step
from .errors import FactoryError, FlowExecutionError
from .factory import Factory, load_factory
from .store import Store, redact

__all__ = ["UPSTREAM_FAILED", "RunReport", "run"]

UPSTREAM_FAILED = "upstream_failed"

# Factories of the current run, inherited by forked workers, so a factory defined in a
# notebook or a test (with no import reference) runs in worker processes too.
_REGISTRY: dict[str, Factory] = {}
_PROGRESS: Any = None


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

    @property
    def ok(self) -> bool:
        return all(r.status in (SUCCEEDED, SKIPPED) for r in self.results.values())

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
            "plan": self.plan,
            "steps": {name: result.to_dict() for name, result in self.results.items()},
        }


def _init_worker(progress: Any) -> None:
    global _PROGRESS
    _PROGRESS = progress


def _report_progress(flow: str, resource: str, rows: int) -> None:
    if _PROGRESS is not None:
        _PROGRESS.put((flow, resource, rows))


def _worker(key: str, ref: str | None, unit: str, flow: str, partition: str | None, store: Store,
            force: bool, run_id: str, attempt: int) -> dict[str, Any]:
    def progress(_flow: str, resource: str, rows: int) -> None:
        _report_progress(unit, resource, rows)

    try:
        factory = _REGISTRY.get(key) or load_factory(ref or "")
        result = run_step(factory, flow, store=store, force=force, run_id=run_id, attempt=attempt,
                          progress=progress, partition=partition)
        return result.to_dict()
    except FlowExecutionError as error:
        return {"error": {**error.to_dict(), "traceback": redact(traceback.format_exc())}}
    except Exception as error:
        # A FactoryError raised while the flow function built its flow (a wrong return
        # value, a bad table name) is a clear message already; anything else is a bug or an
        # environment problem. Either way one line; the traceback is kept apart, for --debug.
        processor = getattr(error, "processor", None) or (
            "flow function" if isinstance(error, FactoryError) else None)
        payload = FlowExecutionError(flow, redact(str(error) or repr(error)), processor=processor,
                                     cause_type=type(error).__name__).to_dict()
        payload["traceback"] = redact(traceback.format_exc())
        return {"error": payload}


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
) -> RunReport:
    """Run ``factory`` (or the ``select``-ed part of it) on this machine.

    ``resume=True`` runs only what the last run (of the same selection) did not finish:
    its failed flows, the flows it never reached, and their downstream.
    """
    factory = load_factory(factory)
    # The Store object (not its URL) goes to the workers: it carries the credentials that
    # a URL like s3://KEY:SECRET@bucket gave, which plans and manifests never hold.
    target = factory.store(store)
    plan = factory.plan(select=select, store=target)
    if resume:
        unfinished = _unfinished(target, plan)
        plan = plan.select(unfinished) if unfinished else replace(plan, steps=())
    report = RunReport(run_id=run_id or new_run_id(), factory=factory.name,
                       store=target.display_url, started_at=_now(), plan=list(plan.names))
    report.manifest = f"{target.runs_url(factory.name)}/{report.run_id}.json"
    jobs = max(1, jobs or os.cpu_count() or 1)
    key = f"{factory.name}:{id(factory)}"
    _REGISTRY[key] = factory
    try:
        with _Display(plan, show_progress) as display:
            _Scheduler(plan, factory, key, target, report, jobs, force, display).run()
    finally:
        _REGISTRY.pop(key, None)
    order = [unit.id for unit in _units(plan)]
    report.results = {name: report.results[name] for name in order if name in report.results}
    report.finished_at = _now()
    _write_manifest(target, report)
    return report


def _write_manifest(store: Store, report: RunReport) -> None:
    store.write_json(report.manifest, report.to_dict())


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


@dataclass(frozen=True)
class _Unit:
    """One thing to run: a flow, one partition of a flow, or the merge of a flow's parts."""

    id: str
    step: StepPlan
    partition: str | None
    deps: tuple[str, ...]


def _units(plan: Plan) -> list[_Unit]:
    """The plan's steps as units; a partitioned step is its parts, then their merge.

    A merge keeps the flow's own name, so downstream units depend on it unchanged.
    """
    names = set(plan.names)
    units: list[_Unit] = []
    for step in plan.steps:
        deps = tuple(up for up in step.upstream if up in names)
        parts = [_Unit(f"{step.name}[{value}]", step, value, deps) for value in step.partitions]
        units += parts
        units.append(_Unit(step.name, step, None, tuple(p.id for p in parts) or deps))
    return units


class _Scheduler:
    def __init__(self, plan: Plan, factory: Factory, key: str, store: Store, report: RunReport,
                 jobs: int, force: bool, display: _Display) -> None:
        self.plan, self.factory, self.key, self.store = plan, factory, key, store
        self.report, self.jobs, self.force, self.display = report, jobs, force, display
        self.units = {unit.id: unit for unit in _units(plan)}
        self.attempts: dict[str, int] = {}
        self.waiting: dict[str, float] = {}  # unit -> time it may (re)start
        self.running: dict[Future[dict[str, Any]], str] = {}
        self.context = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
        self.progress = self.context.Queue()

    def run(self) -> None:
        self.waiting = dict.fromkeys(self.units, 0.0)
        self.display.follow(self.progress)
        pool = self._pool()
        try:
            while self.waiting or self.running:
                self._submit_ready(pool)
                if not self.running:
                    if not self.waiting:
                        break
                    time.sleep(min(0.2, max(0.0, min(self.waiting.values()) - time.monotonic())))
                    continue
                done, _ = wait(list(self.running), timeout=0.2, return_when=FIRST_COMPLETED)
                for future in done:
                    unit = self.units[self.running.pop(future)]
                    try:
                        payload = future.result()
                    except BrokenProcessPool:
                        payload = {"error": FlowExecutionError(
                            unit.step.name,
                            "the worker process running this flow died (killed or out of memory)",
                            cause_type="WorkerDied").to_dict()}
                        pool.shutdown(wait=False, cancel_futures=False)
                        pool = self._pool()
                    self._finish(unit, payload)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            self.display.stop_following()

    def _pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=self.jobs, mp_context=self.context,
                                   initializer=_init_worker, initargs=(self.progress,))

    def _ready(self, unit: _Unit) -> bool | None:
        """True: can start; False: wait; None: will never run (an upstream failed).

        Upstream flows outside the selection are not deps: their stored datasets are used.
        """
        for upstream in unit.deps:
            result = self.report.results.get(upstream)
            if result is None:
                return False
            if result.status not in (SUCCEEDED, SKIPPED):
                return None
        return True

    def _submit_ready(self, pool: ProcessPoolExecutor) -> None:
        now = time.monotonic()
        for unit in self.units.values():
            if unit.id not in self.waiting or len(self.running) >= self.jobs:
                continue
            ready = self._ready(unit)
            if ready is None:
                del self.waiting[unit.id]
                self._record(unit, StepResult(
                    factory=self.plan.factory, flow=unit.step.name, status=UPSTREAM_FAILED,
                    dataset_uri=unit.step.output, run_id=self.report.run_id, started_at=_now(),
                    finished_at=_now(), attempt=0, partition=unit.partition))
                continue
            if not ready or self.waiting[unit.id] > now:
                continue
            del self.waiting[unit.id]
            attempt = self.attempts[unit.id] = self.attempts.get(unit.id, 0) + 1
            self.display.start(unit.id, attempt)
            future = pool.submit(_worker, self.key, self.plan.factory_ref, unit.id, unit.step.name,
                                 unit.partition, self.store, self.force, self.report.run_id, attempt)
            self.running[future] = unit.id

    def _finish(self, unit: _Unit, payload: dict[str, Any]) -> None:
        attempt = self.attempts[unit.id]
        if payload.get("error"):
            if attempt <= unit.step.retries:
                self.waiting[unit.id] = time.monotonic() + unit.step.retry_delay
                self.display.retrying(unit.id, attempt, payload["error"]["text"])
                return
            result = StepResult(
                factory=self.plan.factory, flow=unit.step.name, status=FAILED,
                dataset_uri=unit.step.output, run_id=self.report.run_id, attempt=attempt,
                error=payload["error"], finished_at=_now(), partition=unit.partition)
        else:
            result = StepResult.from_dict(payload)
        self._record(unit, result)

    def _record(self, unit: _Unit, result: StepResult) -> None:
        self.report.results[unit.id] = result
        self.display.finish(unit.id, result)
        _write_manifest(self.store, self.report)


class _Display:
    """Progress bars per flow (rows seen, rows/s), fed by the workers through a queue."""

    def __init__(self, plan: Plan, enabled: bool | None) -> None:
        from rich.console import Console

        self.console = Console(stderr=True)
        self.enabled = self.console.is_terminal if enabled is None else enabled
        self.plan = plan
        self.tasks: dict[str, Any] = {}
        self.progress: Any = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def __enter__(self) -> _Display:
        if self.enabled:
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self.progress = Progress(
                SpinnerColumn(), TextColumn("[bold]{task.fields[flow]}"),
                TextColumn("{task.fields[state]}"), TextColumn("{task.completed:,.0f} rows"),
                TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
                console=self.console, transient=False,
            )
            self.progress.start()
            for unit in _units(self.plan):
                self.tasks[unit.id] = self.progress.add_task(
                    unit.id, flow=unit.id, state="waiting", rate="", total=None, start=False)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def follow(self, source: Any) -> None:
        if not self.enabled:
            return

        def pump() -> None:
            while not self._stop.is_set():
                try:
                    flow, _resource, rows = source.get(timeout=0.1)
                except (queue_module.Empty, EOFError, OSError):
                    continue
                task = self.tasks.get(flow)
                if task is not None:
                    elapsed = self.progress.tasks[task].elapsed or 0.0
                    rate = f"{rows / elapsed:,.0f} rows/s" if elapsed > 0 else ""
                    self.progress.update(task, completed=rows, rate=rate)

        self._thread = threading.Thread(target=pump, name="dff-progress", daemon=True)
        self._thread.start()

    def stop_following(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1)

    def start(self, flow: str, attempt: int) -> None:
        if self.progress is not None:
            self.progress.start_task(self.tasks[flow])
            state = "running" if attempt == 1 else f"running (attempt {attempt})"
            self.progress.update(self.tasks[flow], state=state)

    def retrying(self, flow: str, attempt: int, error: str) -> None:
        self.console.print(f"[yellow]flow {flow!r} attempt {attempt} failed, retrying:[/] {error}",
                           markup=True, highlight=False)

    def finish(self, unit: str, result: StepResult) -> None:
        if self.progress is not None:
            colour = {SUCCEEDED: "green", SKIPPED: "cyan"}.get(result.status, "red")
            task = self.tasks[unit]
            self.progress.update(task, state=f"[{colour}]{result.status}[/]",
                                 completed=result.total_rows)
            self.progress.stop_task(task)
