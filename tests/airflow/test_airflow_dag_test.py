"""dag.test() runs the world DAG in process: task states, StepResult XComs, skips, force."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow_support import pg_execute, write_dag
from conformance.datasets import stored

from dataflows_factory import StepResult

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "world"
FLOWS = ["countries", "cities", "key_metrics", "publish"]
DAG_ID = "dagtest_world"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, airflow_db: str) -> dict[str, Any]:
    """A private copy of the world factory, its DAG in the DAGs folder, and a first dag.test()."""
    root = tmp_path_factory.mktemp("dagtest")
    shutil.copytree(EXAMPLE, root / "world", ignore=shutil.ignore_patterns("data", "__pycache__"))
    store = root / "airflow-store"
    path = write_dag(DAG_ID, (
        "from dataflows_factory.airflow_provider import build_dag\n"
        f"dag = build_dag({str(root / 'world' / 'factory.py')!r}, dag_id={DAG_ID!r}, "
        f"store={str(store)!r}, force=\"{{{{ dag_run.conf.get('force', False) }}}}\")\n"
    ))
    bag = DagBag(dag_folder=str(path))
    assert bag.import_errors == {}
    dag = bag.dags[DAG_ID]
    return {"root": root, "store": store, "dag": dag, "db": airflow_db, "first": dag.test()}


def xcoms(db: str, run_id: str) -> dict[str, StepResult]:
    rows = pg_execute("SELECT task_id, value FROM xcom WHERE dag_id = %s AND run_id = %s "
                      "AND key = 'return_value'", (DAG_ID, run_id), dbname=db)
    return {task: StepResult.from_dict(value) for task, value in rows}


def statuses(db: str, run_id: str) -> dict[str, str]:
    return {flow: result.status for flow, result in xcoms(db, run_id).items()}


def states(run: Any) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in run.get_task_instances()}


def test_every_task_succeeds(world: dict[str, Any]) -> None:
    """The first run succeeds task by task (its datasets equal the local runner's: tests/conformance)."""
    assert world["first"].state == "success"
    assert states(world["first"]) == dict.fromkeys(FLOWS, "success")


def test_xcom_holds_the_step_result(world: dict[str, Any]) -> None:
    """The join task's XCom is its StepResult: URI and stats of the published dataset, no rows."""
    result = xcoms(world["db"], world["first"].run_id)["key_metrics"]
    descriptor = (world["store"] / "world" / "key_metrics" / "datapackage.json").read_text()
    assert (result.flow, result.status) == ("key_metrics", "succeeded")
    assert result.dataset_uri == str(world["store"] / "world" / "key_metrics")
    assert result.rows == {"key_metrics": 15}
    assert result.content_hash in descriptor
    assert result.run_id == world["first"].run_id and result.attempt == 1
    assert set(result.schema["key_metrics"]["fields"][0]) >= {"name", "type"}


def test_unchanged_flows_skip_without_skipping_downstream(world: dict[str, Any]) -> None:
    """A rerun skips every unchanged flow, yet every task succeeds; force (templated) reruns them."""
    before = stored(world["store"], "world", FLOWS)
    again = world["dag"].test()
    assert states(again) == dict.fromkeys(FLOWS, "success")
    assert statuses(world["db"], again.run_id) == dict.fromkeys(FLOWS, "skipped")
    forced = world["dag"].test(run_conf={"force": True})
    assert states(forced) == dict.fromkeys(FLOWS, "success")
    assert statuses(world["db"], forced.run_id) == dict.fromkeys(FLOWS, "succeeded")
    assert stored(world["store"], "world", FLOWS) == before
