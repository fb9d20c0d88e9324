"""What one orchestrator task does for one step, wherever it runs: ``dff step`` in another
interpreter, Dagster Pipes' external process, or an operator in the scheduler's own.

Load the factory, check it against the compiled plan the task was built from (if any), and
run the step with every log record redacted.
"""

from __future__ import annotations

import os

from .._secrets import redacting_logs
from ..factory import load_factory
from ..lineage import ParentRun
from ..store import Store
from .compiled import check_plan, read_plan
from .results import StepResult
from .step import run_step

__all__ = ["run_task_step"]


def run_task_step(factory_ref: str, flow: str, *, store: str | os.PathLike[str] | Store | None = None,
                  partition: str | None = None, force: bool = False, run_id: str | None = None,
                  attempt: int = 1, plan_path: str | None = None,
                  lineage_parent: ParentRun | None = None) -> StepResult:
    """Run ``flow`` (one ``partition`` of it, or its merge) of the factory ``factory_ref``.

    With ``plan_path``, a factory whose code no longer matches that compiled plan raises
    :class:`~.compiled.StalePlanError` before anything runs. ``lineage_parent`` is the
    orchestrator's run the step's OpenLineage events point at.
    """
    factory = load_factory(factory_ref)
    if plan_path is not None:
        check_plan(read_plan(plan_path), factory)
    with redacting_logs():
        return run_step(factory, flow, store=store, force=force, run_id=run_id, attempt=attempt,
                        partition=partition, lineage_parent=lineage_parent)
