"""Airflow 3 provider: run factory flows as native tasks, with Assets, retries and XCom.

>>> from dataflows_factory.airflow_provider import build_dag
>>> dag = build_dag("/path/to/factory.py", dag_id="world", schedule="@daily")
>>> dag = build_dag(plan="/path/to/world.plan.json", group_by="tag")   # see dag.py

Airflow loads this package through the ``apache_airflow_provider`` entry point while it is
still importing itself (to read provider configuration), so this module must not import
Airflow: the operator and builders are imported lazily, on first attribute access.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

from .._lazy import lazy_exports
from ..errors import MissingExtraError


def _airflow_missing() -> bool:
    try:
        return importlib.util.find_spec("airflow") is None  # looks Airflow up, imports nothing
    except (ImportError, ValueError):  # sys.modules["airflow"] = None: blocked on purpose
        return True


if _airflow_missing():
    raise MissingExtraError("airflow", "apache-airflow")

if TYPE_CHECKING:
    from ._ids import asset_uri, task_id_for
    from .dag import build_dag, build_task_group
    from .external import DataflowsExternalFlowOperator
    from .group import DataflowsGroupOperator
    from .operator import DataflowsFlowOperator
    from .translator import DataflowsTranslator, TaskSpec

__all__ = [
    "DataflowsExternalFlowOperator",
    "DataflowsFlowOperator",
    "DataflowsGroupOperator",
    "DataflowsTranslator",
    "TaskSpec",
    "asset_uri",
    "build_dag",
    "build_task_group",
    "get_provider_info",
    "task_id_for",
]

_LAZY = {
    "DataflowsExternalFlowOperator": ".external",
    "DataflowsFlowOperator": ".operator",
    "DataflowsGroupOperator": ".group",
    "DataflowsTranslator": ".translator",
    "TaskSpec": ".translator",
    "asset_uri": "._ids",
    "build_dag": ".dag",
    "build_task_group": ".dag",
    "task_id_for": "._ids",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())


def get_provider_info() -> dict[str, Any]:
    """What ``airflow providers list`` shows; validated by Airflow's provider_info schema."""
    from .. import __version__

    return {
        "package-name": "dataflows-factory",
        "name": "dataflows-factory",
        "description": "Factories of dataflows flows as Airflow tasks: one task per flow "
                       "(or per group of flows), datasets as Assets, StepResult as XCom.",
        "versions": [__version__],
        "integrations": [{
            "integration-name": "dataflows-factory",
            "tags": ["software"],
        }],
        "operators": [{
            "integration-name": "dataflows-factory",
            "python-modules": ["dataflows_factory.airflow_provider.operator",
                               "dataflows_factory.airflow_provider.group",
                               "dataflows_factory.airflow_provider.external"],
        }],
    }
