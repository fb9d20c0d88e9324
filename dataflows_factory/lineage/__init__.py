"""OpenLineage run events from the step executor (the ``lineage`` extra).

When OpenLineage is configured the standard way (``openlineage.yml``, ``OPENLINEAGE_URL``,
``OPENLINEAGE__TRANSPORT__*``; see :func:`enabled`), every step emits START, then COMPLETE
or FAIL, for the job ``<factory>.<flow>`` in the namespace :func:`namespace_for` gives, with
its inputs (upstream datasets, files and URLs loaded), its output (schema, rows, bytes,
content hash) and a parent facet pointing at the run it belongs to (the local run of the
factory, or an orchestrator's run). Without configuration nothing is imported or sent.

An engine gives the steps of its task their parent run::

    from dataflows_factory.lineage import ParentRun
    parent = ParentRun(namespace="airflow", job="world_dag.key_metrics", run_id=task_run_uuid,
                       root=ParentRun(namespace="airflow", job="world_dag", run_id=dag_run_uuid))
    run_task_step("world/factory.py", "key_metrics", lineage_parent=parent)

Importing this package does not import ``openlineage``: :func:`enabled`, :class:`ParentRun`,
:func:`namespace_for`, :func:`run_uuid` and :func:`suppressed` are plain Python; the
dataset and event functions import the client on first use.
"""

from __future__ import annotations

import logging
from types import ModuleType
from typing import TYPE_CHECKING

from .._lazy import lazy_exports
from ._config import (
    EMIT_ENV,
    NAMESPACE_ENV,
    ParentRun,
    enabled,
    factory_run,
    job_name,
    namespace_for,
    run_uuid,
    suppressed,
)

if TYPE_CHECKING:
    from ..factory import Factory
    from ..store import Store
    from ._datasets import dataset_id, load_sources, step_inputs, step_outputs
    from ._emit import emit, error_facet, parent_facet
    from ._step import FactoryLineage, StepLineage

__all__ = [
    "EMIT_ENV",
    "NAMESPACE_ENV",
    "FactoryLineage",
    "ParentRun",
    "StepLineage",
    "dataset_id",
    "emit",
    "enabled",
    "error_facet",
    "factory_lineage",
    "factory_run",
    "job_name",
    "load_sources",
    "local_run",
    "namespace_for",
    "parent_facet",
    "run_uuid",
    "step_inputs",
    "step_lineage",
    "step_outputs",
    "suppressed",
]

_LAZY = {
    "FactoryLineage": "._step",
    "StepLineage": "._step",
    "dataset_id": "._datasets",
    "emit": "._emit",
    "error_facet": "._emit",
    "load_sources": "._datasets",
    "parent_facet": "._emit",
    "step_inputs": "._datasets",
    "step_outputs": "._datasets",
}

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())


def step_lineage(factory: Factory, flow: str, *, store: Store, run_id: str, attempt: int = 1,
                 partition: str | None = None, parent: ParentRun | None = None) -> StepLineage | None:
    """The step's :class:`StepLineage`, or None when lineage is not enabled (nothing imported)
    or the ``lineage`` extra is missing (a warning says which line installs it)."""
    step = _events_module()
    return None if step is None else step.StepLineage(
        factory, flow, store=store, run_id=run_id, attempt=attempt, partition=partition, parent=parent)


def factory_lineage(factory: Factory, run_id: str,
                    parent: ParentRun | None = None) -> FactoryLineage | None:
    """The local run's :class:`FactoryLineage`, or None as for :func:`step_lineage`."""
    step = _events_module()
    return None if step is None else step.FactoryLineage(factory, run_id, parent)


def _events_module() -> ModuleType | None:
    """:mod:`._step` (which imports the OpenLineage client) when lineage is enabled and the
    ``lineage`` extra is installed; None otherwise."""
    if not enabled():
        return None
    try:
        from . import _step
    except ImportError as error:
        _missing(error)
        return None
    return _step


def local_run(factory: Factory, run_id: str, parent: ParentRun | None = None,
              ) -> tuple[FactoryLineage | None, ParentRun | None]:
    """The lineage of a local run: ``(its FactoryLineage or None, its steps' parent)``.

    Run by itself (``dff run``), the run is a run of job ``<factory>`` and the parent of
    its steps. Inside an orchestrator's task (a group task gives ``parent``), the steps'
    parent is that task's run and the local run emits nothing of its own.
    """
    if parent is not None:
        return None, parent
    events = factory_lineage(factory, run_id)
    if events is None:
        return None, None
    events.start()
    return events, events.as_parent()


_told_missing = False


def _missing(error: ImportError) -> None:
    # Configured but not installed: say once per process how to install it; never fail a flow.
    global _told_missing
    if not _told_missing:
        _told_missing = True
        logging.getLogger("dataflows_factory.lineage").warning(
            "OpenLineage is configured but no events are sent: %s", error)
