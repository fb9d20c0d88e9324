"""The examples/world factory as an Airflow DAG: one task per flow, datasets as Assets."""

from pathlib import Path

from dataflows_factory.airflow_provider import build_dag

dag = build_dag(Path(__file__).parents[2] / "world" / "factory.py", dag_id="world", schedule=None)
