"""The examples/world factory as an Airflow DAG with a task per tag: ``source`` and ``metrics``.

Each task runs its flows as the local runner does (dependency order, independent ones in
parallel, unchanged ones skipped) and still declares one Asset per flow's dataset.

Compile the factory once (``dff compile examples/world/factory.py -o examples/world/world.plan.json``)
and this file builds the DAG from the plan: the scheduler parses it without importing the
factory or ``dataflows``. Without the plan it builds from the factory file itself.
"""

from pathlib import Path

from dataflows_factory.airflow_provider import build_dag

WORLD = Path(__file__).parents[2] / "world"
PLAN = WORLD / "world.plan.json"

if PLAN.exists():
    dag = build_dag(plan=PLAN, group_by="tag", dag_id="world_grouped", schedule=None)
else:
    dag = build_dag(WORLD / "factory.py", group_by="tag", dag_id="world_grouped", schedule=None)
