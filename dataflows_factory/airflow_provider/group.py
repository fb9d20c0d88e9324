"""``DataflowsGroupOperator``: several flows of a factory as one Airflow task.

Grouping trades per-flow tasks for fewer task start-ups (each one an interpreter, the
factory's import and ``import dataflows``). Inside the task the flows run as the local
runner runs them (:func:`dataflows_factory.adapters.group_run.run_group`): in dependency
order, independent ones in parallel, each skipped when unchanged, each retried by its own
``retries``. Each flow's dataset still surfaces natively: one Asset outlet per flow, one
log line per flow, and the XCom maps every unit (flow, or ``flow[partition]``) to its
:class:`StepResult`.

Like :mod:`.operator`, this module imports neither ``dataflows`` nor the factory.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .._secrets import redact
from ..adapters.compiled import StalePlanError
from ..adapters.results import FAILED, StepResult
from ..errors import FactoryDefinitionError, FactoryRefError, SelectionError
from ._compat import AirflowFailException, BaseOperator
from ._ids import task_id_for
from .operator import _as_bool

__all__ = ["DataflowsGroupOperator"]


class DataflowsGroupOperator(BaseOperator):  # type: ignore[misc]
    """Run ``flows`` of a factory together, as one task; :func:`build_dag` makes these.

    >>> DataflowsGroupOperator(factory_ref="/srv/world/factory.py:factory", group="source",
    ...                        flows=["countries", "cities"], plan_path="/srv/world/plan.json")

    ``task_id`` defaults to the group's sanitized name. ``factory_ref``, ``store``, ``force``
    and ``plan_path`` are templated, as on :class:`DataflowsFlowOperator`; ``jobs`` caps the
    worker pool (default: one worker per core), e.g. through the translator's
    ``get_group_spec`` ``operator_kwargs={"jobs": 2}``. A failed flow
    fails the task with one line naming it (the other flows of the group still ran, or
    were blocked if below it); with ``plan_path``, a factory whose code moved on fails the
    task at once, without retries, saying to re-run ``dff compile``.
    """

    template_fields: Sequence[str] = ("factory_ref", "store", "force", "plan_path")
    ui_color = "#c5e0b4"
    # Every unit's result, for the OpenLineage provider's COMPLETE or FAIL event.
    _lineage_results: dict[str, StepResult] | None = None

    def __init__(
        self,
        *,
        factory_ref: str,
        group: str,
        flows: Sequence[str],
        store: str | None = None,
        force: bool | str = False,
        plan_path: str | None = None,
        jobs: int | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("task_id", task_id_for(group))
        super().__init__(**kwargs)
        self.factory_ref = factory_ref
        self.group = group
        self.flows = list(flows)
        self.store = store
        self.force = force
        self.plan_path = plan_path
        self.jobs = jobs

    def execute(self, context: Any) -> dict[str, dict[str, Any]]:
        # Imported here, not at module level: parsing a DAG file must not import dataflows.
        from ..adapters.compiled import read_plan
        from ..adapters.group_run import GroupError, run_group
        from ._lineage import step_lineage

        self.log.info("group %r: flows %s of %s, store %s", self.group, ", ".join(self.flows),
                      self.factory_ref, redact(str(self.store or "(factory default)")))
        try:
            plan = read_plan(self.plan_path) if self.plan_path else None
            with step_lineage(context) as parent:
                report = run_group(self.factory_ref, self.flows, group=self.group,
                                   store=self.store or None, force=_as_bool(self.force),
                                   run_id=str(context["run_id"]), jobs=self.jobs, plan=plan,
                                   lineage_parent=parent)
        except (FactoryDefinitionError, FactoryRefError, SelectionError, StalePlanError) as error:
            # A broken factory, or a plan its code left behind, stays broken: no retries.
            raise AirflowFailException(f"group {self.group!r}: {redact(str(error))}") from None
        self._lineage_results = dict(report.results)
        for unit, result in report.results.items():
            self._log_result(unit, result)
        results = {unit: result.to_dict() for unit, result in report.results.items()}
        if not report.ok:
            # A failed task returns nothing: its XCom still says what each flow did.
            context["ti"].xcom_push(key="return_value", value=results)
            # The message names the failed flow (and processor, row); no chained cause,
            # whose text Airflow would log unredacted.
            raise GroupError(self.group, report) from None
        return results

    def get_openlineage_facets_on_start(self) -> Any:
        """The OpenLineage provider's START datasets: what the group's flows read from
        outside the group, and their output datasets; see :mod:`._lineage`."""
        from ._lineage import operator_lineage

        return operator_lineage(self.factory_ref, [(flow, None) for flow in self.flows],
                                store=self.store or None)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """The provider's COMPLETE (and FAIL) datasets: each flow that finished with its
        schema, row count, bytes and content hash."""
        from ._lineage import operator_lineage

        return operator_lineage(self.factory_ref, [(flow, None) for flow in self.flows],
                                store=self.store or None, results=self._lineage_results)

    def _log_result(self, unit: str, result: StepResult) -> None:
        """One line per flow, as its own task would have logged it."""
        if result.status == FAILED:
            self.log.error("flow %r failed: %s", unit, (result.error or {}).get("text", ""))
        elif result.rows:
            self.log.info("flow %r %s: %d rows %s", unit, result.status, result.total_rows,
                          result.rows)
        else:
            self.log.info("flow %r %s", unit, result.status)
