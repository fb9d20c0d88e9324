"""``DataflowsFlowOperator``: one flow of a factory as one Airflow task.

The operator only translates: it calls :func:`dataflows_factory.adapters.task.run_task_step`
(the one executor every runner shares), returns the :class:`StepResult` as its XCom (URI and
stats, never rows) and declares the flow's dataset as an :class:`airflow.sdk.Asset`.

This module imports neither ``dataflows`` nor the factory: a DAG file parsed every few
seconds pays for them only in the task that runs a flow (see :mod:`.dag`, compiled plans).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .._secrets import redact
from ..adapters.compiled import StalePlanError
from ..adapters.plan import Plan, unit_id
from ..adapters.results import SKIPPED, StepResult
from ..errors import FactoryDefinitionError, FactoryRefError, FlowExecutionError, SelectionError
from ._compat import AirflowFailException, BaseOperator
from ._ids import task_id_for
from .translator import DataflowsTranslator

__all__ = ["DataflowsFlowOperator"]


class DataflowsFlowOperator(BaseOperator):  # type: ignore[misc]
    """Run one flow of a factory through the shared step executor.

    >>> DataflowsFlowOperator(factory_ref="/srv/world/factory.py:factory", flow="cities")

    For a partitioned flow, ``partition`` runs one partition into its own part and no
    ``partition`` runs the merge of all parts; :func:`build_dag` maps one task over the
    partitions (Airflow dynamic task mapping) and merges after them:

    >>> DataflowsFlowOperator.partial(task_id="sales.partition", factory_ref=ref,
    ...                               flow="sales").expand(partition=["eu", "us"])

    ``task_id`` defaults to the flow's sanitized name; ``retries``, ``retry_delay``, the
    Asset ``outlets`` (this flow's dataset) and ``inlets`` (its inputs' datasets) default
    to what the factory declares (see :class:`DataflowsTranslator`). ``factory_ref``,
    ``store``, ``force`` and ``plan_path`` are templated, e.g.
    ``force="{{ dag_run.conf.get('force', False) }}"``.

    ``plan_path`` is the compiled plan (``dff compile``) the task was built from: the task
    checks it against the factory's code before running and, when the code moved on, fails
    at once (no retries burned) with one line saying to re-run ``dff compile``.

    A flow whose inputs and code did not change is *skipped* by the executor: the task
    then still succeeds (so downstream tasks run normally) and its XCom says
    ``"status": "skipped"``. A failing flow fails the task with the flow and processor
    named in the log; retries rerun it, and the previous dataset stays untouched.
    """

    template_fields: Sequence[str] = ("factory_ref", "store", "force", "plan_path")
    ui_color = "#d9ecd0"
    # What execute() published, for the OpenLineage provider's COMPLETE event (same process).
    _lineage_results: dict[str, StepResult] | None = None

    def __init__(
        self,
        *,
        factory_ref: str,
        flow: str,
        store: str | None = None,
        force: bool | str = False,
        partition: str | None = None,
        plan: Plan | None = None,
        plan_path: str | None = None,
        translator: DataflowsTranslator | None = None,
        **kwargs: Any,
    ) -> None:
        if plan is None and "{{" not in f"{factory_ref}{store}":
            # Used on its own (not through build_dag): read the flow's options from the
            # factory. This imports the factory module; it runs and reads nothing.
            from ..factory import load_factory

            plan = load_factory(factory_ref).plan(select=flow, store=store)
        if plan is not None:
            spec = (translator or DataflowsTranslator()).get_task_spec(plan, plan.step(flow))
            kwargs = {**spec.to_kwargs(), **kwargs}
        kwargs.setdefault("task_id", task_id_for(flow))
        super().__init__(**kwargs)
        self.factory_ref = factory_ref
        self.flow = flow
        self.store = store
        self.force = force
        self.partition = partition
        self.plan_path = plan_path

    def execute(self, context: Any) -> dict[str, Any]:
        attempt = int(getattr(context["ti"], "try_number", None) or 1)
        self.log.info("flow %r%s of %s, attempt %d, store %s", self.flow,
                      "" if self.partition is None else f" partition {self.partition!r}",
                      self.factory_ref, attempt, redact(str(self.store or "(factory default)")))
        # Imported here, not at module level: parsing a DAG file must not import dataflows.
        from ..adapters.task import run_task_step
        from ._lineage import step_lineage

        try:
            # The step runs in this process: its records go to Airflow's task log handlers.
            with step_lineage(context) as parent:
                result = run_task_step(
                    self.factory_ref, self.flow, store=self.store or None,
                    force=_as_bool(self.force), run_id=str(context["run_id"]), attempt=attempt,
                    partition=self.partition, plan_path=self.plan_path or None,
                    lineage_parent=parent,
                )
        except FlowExecutionError as error:
            # Only a failing task needs the worker pool's error helpers (and the pool's imports).
            from ..adapters.pool import as_error, error_payload

            # Airflow logs the exception it gets with its chained causes, whose messages
            # may hold credentials: it gets the step's error payload instead, redacted, with
            # the traceback as a note and no cause.
            failure = as_error(error_payload(self.flow, error, self.partition))
            # The traceback is logged too, but this line is the one people search for.
            self.log.error("%s", failure)
            raise failure from None
        except (FactoryDefinitionError, FactoryRefError, SelectionError, StalePlanError) as error:
            # A broken factory, or a plan its code left behind, stays broken: fail now
            # instead of burning the retries.
            raise AirflowFailException(f"flow {self.flow!r}: {redact(str(error))}") from None
        # run_step has logged rows and rows/s (logger "dataflows_factory.step"); say what
        # a skip means here, where people expect a skipped task to skip its downstream.
        if result.status == SKIPPED:
            self.log.info("flow %r skipped (unchanged): the task succeeds, downstream tasks run, "
                          "XCom status is 'skipped'", self.flow)
        self._lineage_results = {unit_id(self.flow, self.partition): result}
        return result.to_dict()

    def get_openlineage_facets_on_start(self) -> Any:
        """The OpenLineage provider's START datasets: the flow's inputs (upstream datasets,
        loaded files) and its output dataset; see :mod:`._lineage`."""
        from ._lineage import operator_lineage

        return operator_lineage(self.factory_ref, [(self.flow, self.partition)],
                                store=self.store or None)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """The provider's COMPLETE (and FAIL) datasets: the start's, the output with the
        schema, row count, bytes and content hash of the dataset the task published."""
        from ._lineage import operator_lineage

        return operator_lineage(self.factory_ref, [(self.flow, self.partition)],
                                store=self.store or None, results=self._lineage_results)


def _as_bool(value: bool | str) -> bool:
    # A templated value arrives as text ("True", "false", "1").
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)
