"""One Prefect task per factory flow (and per partition): the body calls ``run_step`` only.

:class:`PrefectTranslator` turns a plan step into task options (name, retries, tags); it is
the one override point. The task body runs the step in a worker process (``isolation``,
see ``adapters.pool``: tasks are threads of one process, and flows need the CPU, not
a share of one GIL), forwards the step executor's log lines to the task run's logger and
publishes the dataset's resources, row counts and schema as artifacts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import signal
import threading
from collections.abc import Iterator
from typing import Any

from .._secrets import RedactingFilter
from ..adapters.compiled import StalePlanError, check_plan
from ..adapters.plan import Plan, StepPlan, unit_id
from ..adapters.pool import Call, Isolation, as_error, execute, run_in_worker, worker_reference
from ..adapters.step import StepResult
from ..errors import FlowExecutionError
from ..factory import Factory, load_factory
from ..store import Store, redact
from ._compat import (
    Task,
    TaskRunContext,
    create_markdown_artifact,
    create_table_artifact,
    get_run_logger,
    task,
)
from ._keys import artifact_key
from ._lineage import task_parent

__all__ = ["PrefectTranslator", "publish_artifacts", "run_flow_task"]


class PrefectTranslator:
    """Turns one :class:`StepPlan` into the keyword arguments of its ``@task``.

    Override :meth:`get_task_options` to add Prefect options to every task, e.g. a tag
    that a concurrency limit applies to, or a timeout::

        class Limited(PrefectTranslator):
            def get_task_options(self, step):
                options = super().get_task_options(step)
                return {**options, "tags": [*options["tags"], "warehouse"],
                        "timeout_seconds": 3600}

        world = build_flow(factory, translator=Limited())

    The options apply to every task of the step: for a partitioned flow, to each
    partition's task and to the merge task alike (so each partition retries on its own);
    each partition's task run is named ``flow[value]``. Caching options
    (``cache_key_fn``, ``refresh_cache``) are set per run on top of these. A group of
    flows (``group_by``) gets them too, for a step named after the group that holds its
    flows' tags and no retries (each flow retries inside the group's task run).
    """

    def get_task_options(self, step: StepPlan) -> dict[str, Any]:
        return {
            "name": step.name,
            "task_run_name": step.name,
            "description": step.description or None,
            "tags": sorted({"dataflows-factory", *step.tags}),
            "retries": step.retries,
            "retry_delay_seconds": step.retry_delay,
            # The cached value is the StepResult dict (URI + stats); JSON keeps it readable
            # in the result storage and loadable without our classes.
            "persist_result": True,
            "result_serializer": "json",
            # A stale compiled plan fails the same way on every try: say so once.
            "retry_condition_fn": retry_unless_stale,
        }

    def make_task(self, step: StepPlan, *, partition: str | None = None) -> Task:  # type: ignore[type-arg]
        """The Prefect task that runs ``step``, or one partition of it (options from
        :meth:`get_task_options`, task run named after the partition)."""
        options = self.get_task_options(step)
        if partition is not None:
            # Prefect formats a string run name with the task's parameters: escape braces.
            name = unit_id(step.name, partition).replace("{", "{{").replace("}", "}}")
            options = {**options, "task_run_name": name}
        return task(run_flow_task, **options)


def retry_unless_stale(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect's ``retry_condition_fn``: retry any failure but a stale compiled plan."""
    return not isinstance(state.data, StalePlanError)


def run_flow_task(
    factory: Factory | str, flow: str, store: Store, force: bool, run_id: str,
    partition: str | None = None, isolation: Isolation = "process", plan: Plan | None = None,
) -> dict[str, Any]:
    """The body of every task: run one flow (or partition) through the shared executor.

    ``isolation="process"`` runs it in a worker process of a pool shared by the process's
    tasks (a factory without an import reference runs in this thread); ``"thread"``, here.
    A failure is raised here either way, as the :class:`FlowExecutionError` of the step.
    ``plan``, the compiled plan the flow was built from, is checked against the factory's
    code first: the code where the task runs (a Dask worker, a work pool's container) is
    the code that counts.
    """
    if plan is not None:
        check_plan(plan, load_factory(factory))
    context = TaskRunContext.get()
    # run_count is 1 on the first try and grows with each Prefect retry.
    attempt = max(1, int(context.task_run.run_count)) if context is not None else 1
    logger = get_run_logger()
    parent = task_parent()  # this task run, child of the flow run: the steps' lineage parent
    call = Call(unit_id(flow, partition), flow, partition, store=store, force=force, run_id=run_id,
                attempt=attempt, lineage_parent=parent.to_dict() if parent is not None else None)
    with _forward_logs(logger):
        # In a worker process, the step's records are re-emitted in this thread, so the
        # handler below forwards them alike.
        ref = worker_reference(factory) if isolation == "process" else None
        if ref is None:
            payload = execute(call, factory=load_factory(factory))
        else:
            payload = run_in_worker(dataclasses.replace(call, ref=ref), factory=load_factory(factory))
    if "error" in payload:
        raise as_error(payload["error"])
    if "interrupted" in payload:
        raise FlowExecutionError(flow, f"stopped by {signal.Signals(payload['interrupted']).name} "
                                 "before it published", cause_type="Interrupted", partition=partition)
    result = StepResult.from_dict(payload["result"])
    publish_artifacts(result)
    return result.to_dict()


class _ThreadRouter(logging.Handler):
    """Forwards each record to the target of the thread that emitted it: the tasks of one
    process share the package logger, and each task run gets its own thread's records."""

    def __init__(self) -> None:
        super().__init__()
        self.addFilter(RedactingFilter())  # the task run's logs are stored by Prefect's API
        self.targets: dict[int, Any] = {}  # thread ident -> the task run's logger

    def emit(self, record: logging.LogRecord) -> None:
        # No thread id (logging.logThreads off): no task run to route to.
        target = self.targets.get(record.thread) if record.thread is not None else None
        if target is not None:
            target.log(record.levelno, record.getMessage())


class _Propagate(logging.Handler):
    """Hands records at or above the level the user configured on to the parent loggers."""

    def __init__(self, source: logging.Logger, level: int) -> None:
        super().__init__(level)
        self.addFilter(RedactingFilter())  # redacted before any handler up the tree sees it
        self.source = source

    def emit(self, record: logging.LogRecord) -> None:
        logger: logging.Logger | None = self.source.parent
        while logger is not None:
            for handler in logger.handlers:
                if record.levelno >= handler.level:
                    handler.handle(record)
            logger = logger.parent if logger.propagate else None


_LOCK = threading.Lock()
_STATE: dict[str, Any] = {"active": 0}
_ROUTER = _ThreadRouter()


@contextlib.contextmanager
def _forward_logs(target: Any) -> Iterator[None]:
    # The step executor logs progress at INFO, below Python's default WARNING. While tasks
    # forward, the package logger lets INFO through to them, and passes on to the usual
    # handlers only what the user's configuration let through before (no duplicate lines).
    # A task only enters and leaves the router's table: the logger's handlers change only
    # when the first task starts and the last one ends. A handler per task, removed when
    # its task ended, lost other tasks' records: removeHandler shrinks the list that
    # Logger.callHandlers is iterating in another thread, which then skips the handler
    # after the removed one (a parallel task's last line, "flow 'right' done", vanished).
    source = logging.getLogger("dataflows_factory")
    thread = threading.get_ident()
    with _LOCK:
        if _STATE["active"] == 0:
            _STATE.update(level=source.level, propagate=source.propagate,
                          relay=_Propagate(source, source.getEffectiveLevel()))
            if source.propagate:
                source.addHandler(_STATE["relay"])
                source.propagate = False
            source.setLevel(min(logging.INFO, source.getEffectiveLevel()))
            source.addHandler(_ROUTER)
        _STATE["active"] += 1
        outer = _ROUTER.targets.get(thread)  # a task nested in this thread's task: restored after
        _ROUTER.targets[thread] = target
    try:
        yield
    finally:
        with _LOCK:
            if outer is None:
                del _ROUTER.targets[thread]
            else:
                _ROUTER.targets[thread] = outer
            _STATE["active"] -= 1
            if _STATE["active"] == 0:
                source.removeHandler(_ROUTER)
                source.removeHandler(_STATE["relay"])
                source.propagate = _STATE["propagate"]
                source.setLevel(_STATE["level"])


def publish_artifacts(result: StepResult) -> None:
    """A table artifact (one row per resource) and a markdown artifact with the schemas.

    A partition gets one small table without a key, shown on its task run only: the keyed
    artifacts describe the flow's merged dataset, and a flow may have hundreds of parts.
    """
    if result.partition is not None:
        create_table_artifact(
            table=[{"partition": result.partition, "resource": name, "rows": rows}
                   for name, rows in result.rows.items()],
            description=f"**{result.factory}.{unit_id(result.flow, result.partition)}** "
                        f"{result.status}: {result.total_rows} rows, {result.bytes} bytes")
        return
    key = artifact_key(result.factory, result.flow)
    table = [
        {
            "resource": name,
            "rows": rows,
            "fields": len(result.schema.get(name, {}).get("fields", [])),
            # Rows the load repaired: short ones padded, extra cells dropped on request.
            "padded rows": result.padded_rows.get(name, 0),
            "truncated rows": result.truncated_rows.get(name, 0),
            "dataset": redact(result.dataset_uri),
        }
        for name, rows in result.rows.items()
    ]
    summary = (f"**{result.factory}.{result.flow}** {result.status}: {result.total_rows} rows, "
               f"{result.bytes} bytes, content hash `{result.content_hash[:12]}`")
    create_table_artifact(table=table, key=key, description=summary)
    create_markdown_artifact(markdown=_schema_markdown(result), key=f"{key}-schema",
                             description=summary)


def _schema_markdown(result: StepResult) -> str:
    lines = [f"# {result.factory}.{result.flow}", "",
             f"- status: {result.status}", f"- dataset: `{redact(result.dataset_uri)}`",
             f"- rows: {result.total_rows}", f"- bytes: {result.bytes}",
             f"- content hash: `{result.content_hash}`", f"- fingerprint: `{result.fingerprint}`", ""]
    for name, schema in result.schema.items():
        lines += [f"## {name} ({result.rows.get(name, 0)} rows)", "",
                  "| field | type | format |", "|---|---|---|"]
        for field in schema.get("fields", []):
            lines.append(f"| {field.get('name')} | {field.get('type', '')} | {field.get('format', '')} |")
        lines.append("")
    return "\n".join(lines)
