"""Partitions, failures and the operator on its own, with the flows in another interpreter.

One DAG, one dag.test(): the shaky factory as a TaskGroup built from its compiled plan (a
flow that fails at row 3, a flow with two partitions), and two operators made by hand from
compiled plans: one whose factory changed since (a stale plan), one with no interpreter.
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from airflow.dag_processing.dagbag import DagBag
from external_support import flows_cli, local_datasets, local_run, run_logged, stored, task_states, xcoms

DAG_ID = "external_tasks"
MISSING = "/nonexistent/venv/bin/python"

SHAKY = '''\
from dataflows import Flow, load, set_type

from dataflows_factory import Factory

factory = Factory("shaky", store="data")


@factory.flow(retries=1)
def readings():
    return Flow(load("raw/readings.csv", name="readings"), set_type("value", type="integer"))


@factory.flow(partitions=["eu", "us"])
def sales(partition):
    return Flow(load(f"raw/{partition}.csv", name="sales"))
'''

DRIFT = '''\
from dataflows import Flow, load

from dataflows_factory import Factory

factory = Factory("drift", store="data")


@factory.flow()
def numbers():
    return Flow(load("raw/numbers.csv", name="numbers"))
'''

DAG_FILE = '''\
from airflow.sdk import DAG

from dataflows_factory.airflow_provider import build_task_group
from dataflows_factory.airflow_provider.external import DataflowsExternalFlowOperator

with DAG({dag_id!r}, schedule=None) as dag:
    build_task_group(plan={shaky_plan!r}, python={python!r}, group_id="shaky")
    # On their own, the operators read their options from the compiled plan (plan_path).
    DataflowsExternalFlowOperator(task_id="stale", factory_ref={drift_ref!r}, flow="numbers",
                                  plan_path={drift_plan!r}, python={python!r}, retries=2)
    DataflowsExternalFlowOperator(task_id="no_interpreter", factory_ref={shaky_ref!r},
                                  flow="readings", plan_path={shaky_plan!r}, python={missing!r},
                                  retries=2)
'''


def write_factory(folder: Path, source: str, raw: dict[str, str]) -> Path:
    for name, text in raw.items():
        (folder / "raw").mkdir(parents=True, exist_ok=True)
        (folder / "raw" / name).write_text(text)
    (folder / "factory.py").write_text(source)
    return folder / "factory.py"


@pytest.fixture(scope="module")
def tasks(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest,
          flows_python: str) -> dict[str, Any]:
    """Both factories compiled, drift's code changed afterwards, the DAG run once."""
    root = tmp_path_factory.mktemp("external-tasks")
    shaky = write_factory(root / "shaky", SHAKY, {"readings.csv": "station,value\na,1\nb,2\nc,n/a\n",
                                                  "eu.csv": "amount\n1\n2\n", "us.csv": "amount\n3\n"})
    drift = write_factory(root / "drift", DRIFT, {"numbers.csv": "n\n1\n"})
    local = local_run(flows_python, shaky.parent, root / "local", "sales")
    # The flows' side (compiling, the local run) goes along with the metadata database's set-up.
    with ThreadPoolExecutor() as pool:
        compiled = [pool.submit(flows_cli, flows_python, "compile", "factory.py", "-o", "plan.json",
                                cwd=factory.parent) for factory in (shaky, drift)]
        airflow_db = request.getfixturevalue("airflow_db")
        for done in compiled:
            done.result()
    drift.write_text(DRIFT.replace('name="numbers"', 'name="numbers", format="csv"'))
    path = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]) / f"{DAG_ID}.py"
    path.write_text(DAG_FILE.format(
        dag_id=DAG_ID, python=flows_python, missing=MISSING, shaky_ref=f"{shaky}:factory",
        shaky_plan=str(shaky.parent / "plan.json"), drift_ref=f"{drift}:factory",
        drift_plan=str(drift.parent / "plan.json")))
    bag = DagBag(dag_folder=str(path))
    assert bag.import_errors == {}
    run, log = run_logged(bag.dags[DAG_ID])
    return {"root": root, "run": run, "log": log, "states": task_states(run), "local": local_datasets(local),
            "xcoms": xcoms(airflow_db, DAG_ID, run.run_id)}


def test_partitions_run_as_mapped_external_tasks(tasks: dict[str, Any]) -> None:
    """Each partition is a mapped task instance, then the merge: the local runner's datasets."""
    assert {task: tasks["states"][task] for task in ("shaky.sales.partition[0]",
            "shaky.sales.partition[1]", "shaky.sales")} == dict.fromkeys(
        ("shaky.sales.partition[0]", "shaky.sales.partition[1]", "shaky.sales"), ("success", 1))
    results = {(value["partition"], value["status"]): (value["rows"], value["content_hash"])
               for value in tasks["xcoms"].values() if value["flow"] == "sales"}
    local = tasks["local"]
    assert results == {("eu", "succeeded"): local["sales[eu]"], ("us", "succeeded"): local["sales[us]"],
                       (None, "succeeded"): local["sales"]}
    assert stored(tasks["root"] / "shaky" / "data", "shaky", ["sales"]) == {"sales": local["sales"]}
    assert local["sales"][0] == {"sales": 3}


def test_failing_flow_fails_its_task_after_its_retries(tasks: dict[str, Any]) -> None:
    """A data error fails the task on each of its two attempts with the one line naming flow and processor."""
    assert tasks["states"]["shaky.readings"] == ("failed", 2)
    line = ("flow 'readings', processor 'set_type' (step #2), resource 'readings', row 3, "
            "field 'value' failed")
    assert tasks["log"].count(line) >= 2  # once per attempt, at least
    assert "shaky.readings" not in tasks["xcoms"]
    assert "dataflows" not in sys.modules


def test_missing_interpreter_fails_at_once(tasks: dict[str, Any]) -> None:
    """An interpreter that does not exist fails the task without burning its two retries."""
    assert tasks["states"]["no_interpreter"] == ("failed", 1)
    assert (f"flow 'readings': interpreter {MISSING!r} does not exist or cannot be run; give the "
            "path of the python of a virtualenv that has dataflows-factory installed") in tasks["log"]


def test_stale_plan_fails_at_once_saying_to_compile_again(tasks: dict[str, Any]) -> None:
    """A factory changed since its plan was compiled fails its task at once: re-run dff compile."""
    assert tasks["states"]["stale"] == ("failed", 1)
    drift = tasks["root"] / "drift" / "factory.py"
    assert "the compiled plan of factory 'drift' no longer matches its code" in tasks["log"]
    assert f"re-run `dff compile {drift}:factory` and deploy the new plan" in tasks["log"]
    assert not (tasks["root"] / "drift" / "data").exists()

