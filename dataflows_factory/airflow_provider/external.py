"""``DataflowsExternalFlowOperator``: one flow as one Airflow task, run by another interpreter.

In real deployments Airflow's environment and the flows' differ: ``dataflows`` pins old
versions of libraries Airflow also uses. This operator runs the flow with the ``python`` of a
virtualenv that has ``dataflows-factory`` installed (``PYTHON -m dataflows_factory step ...``,
see :func:`dataflows_factory.adapters.external.run_external`); Airflow's own environment needs
``dataflows-factory`` without its dependencies, and never imports ``dataflows``.

Only the execution changes: task ids, retries, Assets, XCom (the :class:`StepResult`) and
failures are those of :class:`DataflowsFlowOperator`, and the flow's log lines (rows, rows/s)
appear in the task log as the step prints them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .._secrets import redact
from ..adapters.compiled import read_plan
from ..adapters.external import ExternalStepError, run_external
from ..adapters.results import SKIPPED
from ..errors import FactoryRefError, FlowExecutionError
from ._compat import AirflowFailException
from .operator import DataflowsFlowOperator, _as_bool

__all__ = ["DataflowsExternalFlowOperator"]


class DataflowsExternalFlowOperator(DataflowsFlowOperator):
    """Run one flow of a factory with another Python interpreter (the flows' virtualenv).

    >>> DataflowsExternalFlowOperator(
    ...     factory_ref="/srv/world/factory.py:factory", flow="cities",
    ...     plan_path="/srv/world/world.plan.json", python="{{ var.value.dff_python }}")

    ``python`` is the path of that virtualenv's interpreter (templated). The scheduler's
    environment cannot import the factory, so the task's options come from the compiled plan
    (``dff compile``, run with ``python``): pass ``plan=`` (a :class:`Plan`, as
    :func:`build_dag` does) or ``plan_path=``; the step checks the factory against that plan
    before running, and a stale plan fails with the line that says to compile again.

    A flow failure fails the task with the one line naming the flow and processor, and
    retries apply. An interpreter that is missing or cannot run the step (no
    ``dataflows-factory`` there, a stale plan, a factory that does not import) fails the task
    without retries: a retry would meet the same environment.
    """

    template_fields: Sequence[str] = (*DataflowsFlowOperator.template_fields, "python")
    _stepping = False  # True while the step's process runs (see on_kill)

    def __init__(self, *, python: str, **kwargs: Any) -> None:
        plan_path = kwargs.get("plan_path")
        if kwargs.get("plan") is None and plan_path and "{{" not in str(plan_path):
            # Used on its own: the parent would import the factory, which needs dataflows
            # (absent here); the compiled plan holds the same options and imports nothing.
            try:
                kwargs["plan"] = read_plan(plan_path)
            except FactoryRefError as error:
                raise FactoryRefError(f"flow {kwargs.get('flow')!r}: {error}") from None
        elif kwargs.get("plan") is None and "{{" not in f"{kwargs.get('factory_ref')}{kwargs.get('store')}":
            raise FactoryRefError(
                f"flow {kwargs.get('flow')!r}: DataflowsExternalFlowOperator needs plan_path= (a plan "
                "compiled by the flows' interpreter with `dff compile`, a path known when the DAG "
                "file is parsed) or plan=: Airflow's environment does not import the factory")
        super().__init__(**kwargs)
        self.python = python

    def execute(self, context: Any) -> dict[str, Any]:
        attempt = int(getattr(context["ti"], "try_number", None) or 1)
        self.log.info("flow %r%s of %s, attempt %d, store %s, interpreter %s", self.flow,
                      "" if self.partition is None else f" partition {self.partition!r}",
                      self.factory_ref, attempt, redact(str(self.store or "(factory default)")),
                      self.python)
        from ._lineage import step_lineage  # the task's side only: not while the DAG file parses

        self._stepping = True
        try:
            # The step's lines (the flow's own log) are streamed into the task log as printed.
            # Under the OpenLineage provider, the step (which inherits this environment)
            # emits nothing: the provider emits the task's events.
            with step_lineage(context) as parent:
                result = run_external(
                    str(self.python), self.factory_ref, self.flow, log=self.log.info,
                    store=str(self.store) if self.store else None, partition=self.partition,
                    force=_as_bool(self.force), run_id=str(context["run_id"]), attempt=attempt,
                    plan=self.plan_path or None,
                    lineage_parent=parent.to_dict() if parent is not None else None)
        except FlowExecutionError as error:
            # The same failure as in process: one line naming flow and processor, retried.
            # The traceback from the other interpreter is a note, not a cause.
            self.log.error("%s", error)
            raise error from None
        except ExternalStepError as error:
            # Missing interpreter, stale plan, broken factory: a retry meets the same.
            self.log.error("%s", error)
            raise AirflowFailException(str(error)) from None
        finally:
            self._stepping = False
        if result.status == SKIPPED:
            self.log.info("flow %r skipped (unchanged): the task succeeds, downstream tasks run, "
                          "XCom status is 'skipped'", self.flow)
        return result.to_dict()

    def get_openlineage_facets_on_start(self) -> None:
        """No datasets: naming them needs the factory, which this environment cannot import
        (the provider's events still record the task; without the provider the step emits
        its own events, datasets included)."""
        return None

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> None:
        """No datasets, as at start."""
        return None

    def on_kill(self) -> None:
        """Stop the step's process with the task, so that it publishes nothing afterwards.

        Airflow calls this from its SIGTERM handler, in the thread that waits on the step:
        raising here unwinds :func:`run_external`, which terminates the step's process.
        """
        if self._stepping:
            raise ExternalStepError(f"flow {self.flow!r}: the task was stopped (SIGTERM); its step, "
                                    "run by another interpreter, was stopped with it")
