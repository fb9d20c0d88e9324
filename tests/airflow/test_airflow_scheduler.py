"""A real deployment (api-server, scheduler with LocalExecutor, dag-processor, PostgreSQL) runs factories.

Both DAG runs are triggered through the ``airflow dags trigger`` CLI as soon as the DAGs are
parsed and then run side by side; each test waits for its own run with a bounded timeout.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow_cluster import AirflowCluster
from airflow_support import folder_bytes, write_dag
from conformance.datasets import stored

from dataflows_factory import load_factory, run_step
from dataflows_factory.airflow_provider import asset_uri
from dataflows_factory.runner import run

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "world"
FLOWS = ["countries", "cities", "key_metrics", "publish"]

SHAKY = '''\
from dataflows import Flow, load, set_type

from dataflows_factory import Factory

factory = Factory("shaky", store="data")


@factory.flow(retries=1, retry_delay=1)
def readings():
    return Flow(load("raw/readings.csv", name="readings"), set_type("value", type="integer"))


@factory.flow()
def totals(readings):
    return Flow(readings)


@factory.flow(after=["totals"])
def report():
    return Flow(load("raw/readings.csv", name="copy"))
'''


def dag_file(factory_file: Path, dag_id: str, store: Path) -> str:
    return ("from dataflows_factory.airflow_provider import build_dag\n"
            f"dag = build_dag({str(factory_file)!r}, dag_id={dag_id!r}, store={str(store)!r})\n")


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory, airflow_db: str) -> Iterator[dict[str, Any]]:
    """Start Airflow, trigger the world and the shaky DAG, and stop every process afterwards."""
    root = tmp_path_factory.mktemp("scheduler")
    shutil.copytree(EXAMPLE, root / "world", ignore=shutil.ignore_patterns("data", "__pycache__"))
    (root / "shaky" / "raw").mkdir(parents=True)
    (root / "shaky" / "factory.py").write_text(SHAKY)
    raw = root / "shaky" / "raw" / "readings.csv"
    raw.write_text("station,value\na,1\nb,2\n")
    store = root / "store"
    # A good dataset from an earlier run, which the failing run must leave byte for byte.
    assert run_step(f"{root / 'shaky' / 'factory.py'}:factory", "readings", store=store).status == "succeeded"
    previous = folder_bytes(store / "shaky" / "readings")
    raw.write_text("station,value\na,1\nb,2\nc,n/a\n")
    write_dag("sched_world", dag_file(root / "world" / "factory.py", "sched_world", store))
    write_dag("sched_shaky", dag_file(root / "shaky" / "factory.py", "sched_shaky", store))

    cluster = AirflowCluster(Path(os.environ["AIRFLOW_HOME"]), airflow_db)
    cluster.start()
    try:
        cluster.wait_for_api()
        runs = {}
        for dag_id in ("sched_world", "sched_shaky"):
            cluster.wait_for_dag(dag_id)
            runs[dag_id] = cluster.trigger(dag_id)
        yield {"cluster": cluster, "runs": runs, "root": root, "store": store, "previous": previous}
    finally:
        cluster.stop()


def test_world_runs_on_the_scheduler(deployment: dict[str, Any], tmp_path: Path) -> None:
    """The triggered run succeeds; datasets equal the local runner's; logs, XCom and Assets are native."""
    cluster, run_id = deployment["cluster"], deployment["runs"]["sched_world"]
    assert cluster.wait_for_run("sched_world", run_id) == "success"
    assert cluster.task_states("sched_world", run_id) == dict.fromkeys(FLOWS, ("success", 1))
    local = tmp_path / "local"
    run(load_factory(str(deployment["root"] / "world" / "factory.py")), store=local, show_progress=False)
    assert stored(deployment["store"], "world", FLOWS) == stored(local, "world", FLOWS)
    log = cluster.task_log("sched_world", run_id, "cities", 1)
    assert "flow 'cities' done: 32 rows" in log and "rows/s" in log
    result = cluster.xcom("sched_world", run_id, "key_metrics")
    assert (result["status"], result["rows"], result["run_id"]) == ("succeeded", {"key_metrics": 15}, run_id)
    events = cluster.query("SELECT a.uri FROM asset_event e JOIN asset a ON a.id = e.asset_id "
                           "WHERE e.source_dag_id = %s AND e.source_run_id = %s", ("sched_world", run_id))
    assert sorted(uri for (uri,) in events) == sorted(
        asset_uri(str(deployment["store"] / "world" / f)) for f in FLOWS)


def test_failing_flow_fails_its_task_and_keeps_the_dataset(deployment: dict[str, Any]) -> None:
    """A data error fails the task after its retry, names flow and processor, and spares the dataset."""
    cluster, run_id = deployment["cluster"], deployment["runs"]["sched_shaky"]
    assert cluster.wait_for_run("sched_shaky", run_id) == "failed"
    assert cluster.task_states("sched_shaky", run_id) == {
        "readings": ("failed", 2),  # retries=1: two attempts
        "totals": ("upstream_failed", 0),
        "report": ("upstream_failed", 0),
    }
    for attempt in (1, 2):
        log = cluster.task_log("sched_shaky", run_id, "readings", attempt)
        assert "flow 'readings', processor 'set_type' (step #2), resource 'readings', row 3, " \
               "field 'value' failed" in log
    assert folder_bytes(deployment["store"] / "shaky" / "readings") == deployment["previous"]
