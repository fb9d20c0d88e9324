"""The examples/world factory as a DAG whose flows run in their own virtualenv.

Airflow's environment has ``dataflows-factory`` installed without its dependencies (no
``dataflows``): the DAG is built from the compiled plan, and each task runs its flow with
the interpreter named by ``DFF_FLOWS_PYTHON``. Set up once (docs/airflow.md, "Flows in their
own environment")::

    python -m venv /opt/flows && /opt/flows/bin/pip install dataflows-factory
    /opt/flows/bin/dff compile examples/world/factory.py -o examples/world/world.plan.json
    export DFF_FLOWS_PYTHON=/opt/flows/bin/python    # for the scheduler and the workers

``DFF_WORLD_PLAN`` points at another compiled plan of the factory.
"""

import os
from pathlib import Path

from dataflows_factory.airflow_provider import build_dag

PYTHON = os.environ.get("DFF_FLOWS_PYTHON", "")
if not PYTHON:
    # Raised while the file is parsed, so Airflow lists it as this DAG file's import error.
    raise RuntimeError(
        "world_external: set DFF_FLOWS_PYTHON to the python of a virtualenv that has "
        "dataflows-factory installed (e.g. /opt/flows/bin/python), for the scheduler and workers")

PLAN = os.environ.get("DFF_WORLD_PLAN") or Path(__file__).parents[2] / "world" / "world.plan.json"

dag = build_dag(plan=PLAN, python=PYTHON, dag_id="world_external", schedule=None)
