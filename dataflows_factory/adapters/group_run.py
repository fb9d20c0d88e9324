"""Run a group of flows as one orchestrator task: the local runner inside the task.

Airflow's group task, Dagster's group multi-asset and Prefect's group task call
:func:`run_group`. The flows run as ``dff run --select`` runs them: in dependency order,
independent ones in parallel in the one worker pool, each skipped when unchanged, with
retries per flow. Flows the group reads but does not hold are read from the store as they
are (their own tasks ran before). The caller gets every flow's :class:`StepResult`, failed
ones included, so it can surface each dataset natively, and :class:`GroupError` to raise
when any flow did not finish: one message naming the failed flows inside the group.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from ..errors import FactoryError
from ..factory import Factory, load_factory
from ..lineage import ParentRun
from ..runner import RunReport, run
from ..store import Store
from .compiled import check_plan
from .plan import Plan
from .results import FAILED, SKIPPED, SUCCEEDED

__all__ = ["GroupError", "run_group"]


class GroupError(FactoryError, RuntimeError):
    """Some flows of a group task failed, were blocked by a failure, or were interrupted."""

    def __init__(self, group: str, report: RunReport) -> None:
        self.group, self.report = group, report
        failed = [r for r in report.results.values() if r.status == FAILED]
        others = {unit: r.status for unit, r in report.results.items()
                  if r.status not in (FAILED, SUCCEEDED, SKIPPED)}
        parts = [f"group {group!r}:"]
        if failed:
            first = failed[0]
            parts.append(str((first.error or {}).get("text") or f"flow {first.flow!r} failed"))
            if len(failed) > 1:
                more = [unit for unit, r in report.results.items() if r in failed[1:]]
                parts.append(f"(and {len(more)} more failed: {more})")
        if report.interrupted:
            parts.append(f"interrupted by {report.interrupted}")
        if others:
            shown = ", ".join(f"{unit} ({status})" for unit, status in others.items())
            parts.append(f"not finished: {shown}")
        super().__init__(" ".join(parts))

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.group, self.report))


def run_group(
    factory: Factory | str,
    flows: Sequence[str],
    *,
    group: str = "",
    store: str | os.PathLike[str] | Store | None = None,
    force: bool = False,
    run_id: str | None = None,
    jobs: int | None = None,
    plan: Plan | None = None,
    lineage_parent: ParentRun | None = None,
) -> RunReport:
    """Run ``flows`` of ``factory`` together; the report holds a result per unit.

    ``plan``, when the task was built from a compiled plan, is checked against the
    factory's code first (:func:`~.compiled.check_plan`). ``run_id`` names the run's
    manifest in the store; give each group of one orchestrator run its own (the group's
    name is appended for you). ``lineage_parent`` is the orchestrator's run that the
    flows' OpenLineage events point at as their parent.
    """
    loaded = load_factory(factory)
    if plan is not None:
        check_plan(plan, loaded)
    if run_id is not None:
        # An orchestrator's run id ("manual__2026-11-30T06:00:00+00:00") as a file name.
        run_id = _safe(f"{run_id}.{group}" if group else run_id)
    return run(loaded, select=list(flows), store=store, force=force, run_id=run_id, jobs=jobs,
               show_progress=False, lineage_parent=lineage_parent)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)
