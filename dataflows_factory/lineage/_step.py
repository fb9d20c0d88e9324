"""The run events of one step (:class:`StepLineage`) and of a local factory run
(:class:`FactoryLineage`). Neither ever raises: lineage never fails a flow."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from dataflows import Flow

from ..adapters.results import SKIPPED, StepResult
from ..factory import Factory
from ..store import Store
from ._config import ParentRun, job_name, namespace_for, run_uuid
from ._datasets import load_sources, step_inputs, step_outputs
from ._emit import emit, error_facet, job_facets, warn_once
from ._facets import PRODUCER, DffRunFacet

if TYPE_CHECKING:
    from ..runner import RunReport

__all__ = ["FactoryLineage", "StepLineage"]

_Method = TypeVar("_Method", bound=Callable[..., None])


def _never_raises(method: _Method) -> _Method:
    """Lineage never fails a flow: a bug or a surprise in building an event is a warning."""

    @functools.wraps(method)
    def guarded(self: Any, *args: Any, **kwargs: Any) -> None:
        try:
            method(self, *args, **kwargs)
        except Exception as error:
            warn_once(f"{method.__name__} of {getattr(self, 'job', '?')!r}", error)

    return guarded  # type: ignore[return-value]


class StepLineage:
    """START, then COMPLETE or FAIL, of one step: a flow, a partition's part, or a merge.

    The job is ``<factory>.<flow>``; the run id is derived from the dff run id, the flow,
    the partition and the attempt (:func:`~._config.run_uuid`), so each try is its own run.
    """

    def __init__(self, factory: Factory, flow: str, *, store: Store, run_id: str, attempt: int = 1,
                 partition: str | None = None, parent: ParentRun | None = None) -> None:
        self.factory, self.flow, self.store = factory, flow, store
        self.dff_run_id, self.attempt, self.partition, self.parent = run_id, attempt, partition, parent
        self.namespace = namespace_for(factory.name)
        self.job = job_name(factory.name, flow)
        self.run_id = run_uuid(factory.name, run_id, flow, partition or "", str(attempt))
        self.inputs: list[Any] | None = None

    @_never_raises
    def start(self, flow: Flow | None = None) -> None:
        """Emit START with the inputs (of ``flow``, the built flow, when given)."""
        try:
            sources = load_sources(flow) if flow is not None else None
            self.inputs = step_inputs(self.factory, self.flow, store=self.store,
                                      partition=self.partition, sources=sources)
            outputs = step_outputs(self.factory, self.flow, store=self.store, partition=self.partition)
        except Exception as error:
            warn_once(f"describing the datasets of {self.job!r}", error)
            self.inputs, outputs = [], []
        self._emit("START", "running", outputs)

    @_never_raises
    def complete(self, result: StepResult) -> None:
        """Emit COMPLETE with the output's schema, statistics and content hash; a skipped
        (unchanged) step completes too, with the dataset it kept and status ``skipped``."""
        self._started()
        try:
            outputs = step_outputs(self.factory, self.flow, store=self.store,
                                   partition=self.partition, result=result)
        except Exception as error:
            warn_once(f"describing the output of {self.job!r}", error)
            outputs = []
        self._emit("COMPLETE", SKIPPED if result.status == SKIPPED else "succeeded", outputs,
                   fingerprint=result.fingerprint or None)

    @_never_raises
    def fail(self, error: BaseException) -> None:
        """Emit FAIL with the one-line error the CLI prints (ABORT for an interruption)."""
        from ..adapters._failure import error_payload

        self._started()
        if not isinstance(error, Exception):  # Ctrl-C, a stop signal: not the flow's fault
            self._emit("ABORT", "interrupted", [])
            return
        payload = error_payload(self.flow, error, self.partition)
        self._emit("FAIL", "failed", [], extra={"errorMessage": error_facet(
            str(payload.get("text") or error), payload.get("traceback"))})

    def _started(self) -> None:
        if self.inputs is None:  # failed before the flow was built: START it now
            self.start()

    def _emit(self, state: str, status: str, outputs: list[Any], *, fingerprint: str | None = None,
              extra: dict[str, Any] | None = None) -> None:
        facets: dict[str, Any] = {"dataflowsFactory": DffRunFacet(
            runId=self.dff_run_id, status=status, attempt=self.attempt, partition=self.partition,
            fingerprint=fingerprint, producer=PRODUCER), **(extra or {})}
        spec = self.factory.flows.get(self.flow)
        emit(state, namespace=self.namespace, job=self.job, run_id=self.run_id, parent=self.parent,
             inputs=self.inputs or [], outputs=outputs, run_facets=facets,
             job_facets=_safe_job_facets("FLOW", spec.description if spec else None))


class FactoryLineage:
    """START and COMPLETE (or FAIL) of a local run of a factory: job ``<factory>``, the
    parent of every step of the run."""

    def __init__(self, factory: Factory, run_id: str, parent: ParentRun | None = None) -> None:
        self.factory, self.dff_run_id, self.parent = factory, run_id, parent
        self.namespace = namespace_for(factory.name)
        self.job = job_name(factory.name)
        self.run_id = run_uuid(factory.name, run_id)

    def as_parent(self) -> ParentRun:
        """This run as its steps' parent (with the outer parent's root as root, if any)."""
        root = (self.parent.root or self.parent) if self.parent is not None else None
        return ParentRun(self.namespace, self.job, self.run_id, root=root)

    @_never_raises
    def start(self) -> None:
        self._emit("START", "running")

    @_never_raises
    def finish(self, report: RunReport) -> None:
        """COMPLETE when every step finished, else FAIL naming what failed (the first
        failure's one-line error, as the CLI prints it)."""
        if report.ok:
            self._emit("COMPLETE", "succeeded")
            return
        failed = report.failed
        if failed:
            text = str((failed[0].error or {}).get("text") or f"flow {failed[0].flow!r} failed")
            if len(failed) > 1:
                text += f" (and {len(failed) - 1} more failed)"
        else:
            text = f"run interrupted by {report.interrupted}" if report.interrupted else "run failed"
        self._fail(text, "interrupted" if report.interrupted else "failed")

    @_never_raises
    def abort(self, error: BaseException) -> None:
        """FAIL (ABORT for an interruption) for a run that stopped with ``error`` raised
        before any report was written: the run's START never stays open."""
        if not isinstance(error, Exception):
            self._emit("ABORT", "interrupted")
            return
        self._fail(f"run failed: {type(error).__name__}: {error}", "failed")

    def _fail(self, text: str, status: str) -> None:
        try:
            extra = {"errorMessage": error_facet(text)}
        except Exception as error:
            warn_once(f"describing the failure of {self.job!r}", error)
            extra = {}
        self._emit("FAIL", status, extra)

    def _emit(self, state: str, status: str, extra: dict[str, Any] | None = None) -> None:
        try:
            facets = {"dataflowsFactory": DffRunFacet(runId=self.dff_run_id, status=status,
                                                      producer=PRODUCER), **(extra or {})}
        except Exception as error:
            warn_once(f"describing the run of {self.job!r}", error)
            return
        emit(state, namespace=self.namespace, job=self.job, run_id=self.run_id, parent=self.parent,
             run_facets=facets, job_facets=_safe_job_facets("FACTORY", None))


def _safe_job_facets(kind: str, description: str | None) -> dict[str, Any]:
    try:
        return job_facets(kind, description)
    except Exception as error:
        warn_once("describing a job", error)
        return {}
