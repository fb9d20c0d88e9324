"""``DataflowsFlowOperator``: one flow of a factory as one Airflow task.

The operator only translates: it calls :func:`dataflows_factory.adapters.step.run_step` (the
one executor every runner shares), returns the :class:`StepResult` as its XCom (URI and
stats, never rows) and declares the flow's dataset as an :class:`airflow.sdk.Asset`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .._secrets import redact, redacting_logs
from ..adapters.plan import Plan
from ..adapters.pool import as_error, error_payload
from ..adapters.step import SKIPPED, run_step
from ..errors import FactoryDefinitionError, FactoryRefError, FlowExecutionError, SelectionError
from ..factory import load_factory
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
    ``store`` and ``force`` are templated, e.g. ``force="{{ dag_run.conf.get('force', False) }}"``.

    A flow whose inputs and code did not change is *skipped* by the executor: the task
    then still succeeds (so downstream tasks run normally) and its XCom says
    ``"status": "skipped"``. A failing flow fails the task with the flow and processor
    named in the log; retries rerun it, and the previous dataset stays untouched.
    """

    template_fields: Sequence[str] = ("factory_ref", "store", "force")
    ui_color = "#d9ecd0"

    def __init__(
        self,
        *,
        factory_ref: str,
        flow: str,
        store: str | None = None,
        force: bool | str = False,
        partition: str | None = None,
        plan: Plan | None = None,
        translator: DataflowsTranslator | None = None,
        **kwargs: Any,
    ) -> None:
        if plan is None and "{{" not in f"{factory_ref}{store}":
            # Used on its own (not through build_dag): read the flow's options from the
            # factory. This imports the factory module; it runs and reads nothing.
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

    def execute(self, context: Any) -> dict[str, Any]:
        attempt = int(getattr(context["ti"], "try_number", None) or 1)
        self.log.info("flow %r%s of %s, attempt %d, store %s", self.flow,
                      "" if self.partition is None else f" partition {self.partition!r}",
                      self.factory_ref, attempt, redact(str(self.store or "(factory default)")))
        try:
            # The step runs in this process: its records go to Airflow's task log handlers.
            with redacting_logs():
                result = run_step(
                    self.factory_ref, self.flow, store=self.store or None,
                    force=_as_bool(self.force), run_id=str(context["run_id"]), attempt=attempt,
                    partition=self.partition,
                )
        except FlowExecutionError as error:
            # Airflow logs the exception it gets with its chained causes, whose messages
            # may hold credentials: it gets the step's error payload instead, redacted, with
            # the traceback as a note and no cause.
            failure = as_error(error_payload(self.flow, error, self.partition))
            # The traceback is logged too, but this line is the one people search for.
            self.log.error("%s", failure)
            raise failure from None
        except (FactoryDefinitionError, FactoryRefError, SelectionError) as error:
            # A broken factory stays broken: fail now instead of burning the retries.
            raise AirflowFailException(f"flow {self.flow!r}: {redact(str(error))}") from None
        # run_step has logged rows and rows/s (logger "dataflows_factory.step"); say what
        # a skip means here, where people expect a skipped task to skip its downstream.
        if result.status == SKIPPED:
            self.log.info("flow %r skipped (unchanged): the task succeeds, downstream tasks run, "
                          "XCom status is 'skipped'", self.flow)
        return result.to_dict()


def _as_bool(value: bool | str) -> bool:
    # A templated value arrives as text ("True", "false", "1").
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)
