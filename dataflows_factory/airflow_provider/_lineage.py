"""OpenLineage on Airflow: who emits a task's events, and which Airflow runs a step belongs to.

With ``apache-airflow-providers-openlineage`` installed and configured, the provider's
listener emits every task's START and COMPLETE (or FAIL) and asks the operator for its
datasets (``get_openlineage_facets_on_start/complete``, built here from
:func:`dataflows_factory.lineage.step_inputs` and ``step_outputs``); the step's own events
are then turned off, so each task has exactly one START and one terminal event.

Without the provider, the step emits its own events, with a parent run facet naming the task
instance and, as root, the DAG run: job names and run ids are the ones the provider gives
them (``<dag_id>.<task_id>``, UUIDs from the DAG run's logical date), so a catalog links a
step to the same Airflow runs whichever way it was emitted.

Nothing here is imported while a DAG file is parsed: the operators import it in their task.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ..adapters.results import SKIPPED, SUCCEEDED, StepResult
from ..lineage import ParentRun

__all__ = ["operator_lineage", "provider_emits", "step_lineage", "task_parent"]

log = logging.getLogger("dataflows_factory.lineage")


@contextlib.contextmanager
def step_lineage(context: Mapping[str, Any]) -> Iterator[ParentRun | None]:
    """Around a task's steps: the parent run to give them, or ``None``.

    When the provider emits the task's events, the steps emit none (in this process and in
    the processes they start, which inherit the environment). Otherwise, with OpenLineage
    configured, the steps emit their own, children of this task instance.
    """
    from ..lineage import enabled, suppressed

    if provider_emits():
        with suppressed():
            yield None
    elif not enabled():
        yield None
    else:
        try:
            parent = task_parent(context)
        except ImportError as error:
            # Airflow's environment without openlineage-python (the flows run by another
            # interpreter that has it): the steps still emit, without a parent.
            log.warning("OpenLineage: the step's events name no parent run (%s); install "
                        "openlineage-python where Airflow runs to link them to the task", error)
            parent = None
        yield parent


def provider_emits() -> bool:
    """True when the OpenLineage provider is installed and configured: its listener then
    emits this task's events (the provider's own test: :func:`conf.is_disabled`)."""
    try:
        if importlib.util.find_spec("airflow.providers.openlineage") is None:
            return False
    except (ImportError, ValueError):  # sys.modules entry set to None: blocked on purpose
        return False
    from airflow.providers.openlineage import conf

    return not conf.is_disabled()


def task_parent(context: Mapping[str, Any]) -> ParentRun:
    """The task instance running now as a parent run, with its DAG run as the root.

    The ids are the provider's (``build_task_instance_ol_run_id``, ``build_dag_run_ol_run_id``:
    the client's static UUID of the DAG run's logical date and the names), computed here
    because the provider may be absent.
    """
    from openlineage.client.uuid import generate_static_uuid

    ti, dag_run = context["ti"], context["dag_run"]
    namespace = _namespace()
    # A run triggered without a logical date (Airflow 3) is dated by run_after, as the provider does.
    instant = dag_run.logical_date or dag_run.run_after
    dag_run_id = generate_static_uuid(
        instant=instant, data=f"{namespace}.{ti.dag_id}.{dag_run.clear_number or 0}".encode())
    task_run_id = generate_static_uuid(
        instant=instant,
        data=f"{namespace}.{ti.dag_id}.{ti.task_id}.{ti.try_number}.{ti.map_index}".encode())
    root = ParentRun(namespace=namespace, job=ti.dag_id, run_id=str(dag_run_id))
    return ParentRun(namespace=namespace, job=f"{ti.dag_id}.{ti.task_id}", run_id=str(task_run_id),
                     root=root)


def _namespace() -> str:
    # The provider's namespace: [openlineage] namespace, then OPENLINEAGE_NAMESPACE, then "default".
    from ._compat import conf

    return str(conf.get("openlineage", "namespace", fallback="") or "") \
        or os.getenv("OPENLINEAGE_NAMESPACE", "default")


def operator_lineage(
    factory_ref: str, steps: Iterable[tuple[str, str | None]], *, store: str | None,
    results: Mapping[str, StepResult] | None = None,
) -> Any:
    """The provider's ``OperatorLineage`` for a task that runs ``steps`` (``(flow, partition)``).

    Inputs: each step's upstream datasets and loaded files, less the datasets the task itself
    writes (a group's flows read each other). Outputs: each step's dataset; with
    ``results`` (unit -> :class:`StepResult`, once the task ran), its schema, statistics and
    content hash. A step that did not finish (failed, blocked) keeps a bare output.
    """
    from airflow.providers.openlineage.extractors import OperatorLineage

    from ..adapters.plan import unit_id
    from ..factory import load_factory
    from ..lineage import step_inputs, step_outputs

    factory = load_factory(factory_ref)
    inputs: list[Any] = []
    outputs: list[Any] = []
    for flow, partition in steps:
        result = (results or {}).get(unit_id(flow, partition))
        finished = result is not None and result.status in (SUCCEEDED, SKIPPED)
        inputs += step_inputs(factory, flow, store=store, partition=partition)
        outputs += step_outputs(factory, flow, store=store, partition=partition,
                                result=result if finished else None)
    written = {(dataset.namespace, dataset.name) for dataset in outputs}
    unique = {(d.namespace, d.name): d for d in inputs if (d.namespace, d.name) not in written}
    return OperatorLineage(inputs=list(unique.values()), outputs=outputs)
