"""OpenLineage on Prefect: the task run a step runs in, as the parent of the step's events.

Prefect emits no OpenLineage events of its own; the steps do (see
:mod:`dataflows_factory.lineage`), and their parent run facet names Prefect's objects:

- parent: the task run, job ``<flow name>.<task name>``, run id the task run's id;
- root: the flow run, job ``<flow name>``, run id the flow run's id.

Both are Prefect's own UUIDs, so a catalog entry leads back to the run in Prefect's UI. The
namespace is ``$OPENLINEAGE_NAMESPACE``, else ``prefect``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ._compat import FlowRunContext, TaskRunContext

if TYPE_CHECKING:
    from ..lineage import ParentRun

__all__ = ["task_parent"]


def task_parent() -> ParentRun | None:
    """The current task run (root: its flow run) when lineage is on, else ``None``."""
    from ..lineage import ParentRun, enabled  # imported when a task runs, not when a flow is built

    context = TaskRunContext.get()
    if context is None or not enabled():
        return None
    namespace = os.environ.get("OPENLINEAGE_NAMESPACE", "").strip() or "prefect"
    flow_run_id = context.task_run.flow_run_id
    if flow_run_id is None:  # a task called outside any flow: it is its own root
        return ParentRun(namespace=namespace, job=str(context.task.name), run_id=str(context.task_run.id))
    flow_name = _flow_name()
    root = ParentRun(namespace=namespace, job=flow_name, run_id=str(flow_run_id))
    return ParentRun(namespace=namespace, job=f"{flow_name}.{context.task.name}",
                     run_id=str(context.task_run.id), root=root)


def _flow_name() -> str:
    flow_context = FlowRunContext.get()
    if flow_context is not None and flow_context.flow is not None:
        return str(flow_context.flow.name)
    # A task on a Dask worker has no flow run context: prefect.runtime asks the API.
    from prefect.runtime import flow_run

    return str(flow_run.flow_name or "flow")
