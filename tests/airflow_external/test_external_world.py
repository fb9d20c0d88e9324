"""examples/airflow/dags/world_external.py, parsed and run by an Airflow that has no dataflows."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from airflow.dag_processing.dagbag import DagBag
from external_support import flows_cli, local_datasets, local_run, run_logged, stored, task_states, xcoms

from dataflows_factory.adapters.compiled import read_plan
from dataflows_factory.adapters.results import StepResult
from dataflows_factory.airflow_provider.external import DataflowsExternalFlowOperator

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "world"
EXAMPLE_DAG = ROOT / "examples" / "airflow" / "dags" / "world_external.py"
DAG_ID = "world_external"
FLOWS = ["countries", "cities", "key_metrics", "publish"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest,
          flows_python: str) -> dict[str, Any]:
    """A copy of the world factory compiled by the flows' interpreter, the example DAG run on its
    plan with dag.test(), and the local runner's datasets of the same factory."""
    root = tmp_path_factory.mktemp("external-world")
    shutil.copytree(EXAMPLE, root / "world", ignore=shutil.ignore_patterns("data", "__pycache__"))
    local = local_run(flows_python, root / "world", root / "local")  # beside all the rest
    # Compiled while the metadata database is set up (when this module runs first).
    with ThreadPoolExecutor() as pool:
        compiled = pool.submit(flows_cli, flows_python, "compile", "factory.py", "-o", "world.plan.json",
                               cwd=root / "world")
        airflow_db = request.getfixturevalue("airflow_db")
        compiled.result()
    dag_file = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]) / "world_external.py"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DFF_WORLD_PLAN", str(root / "world" / "world.plan.json"))
        shutil.copyfile(EXAMPLE_DAG, dag_file)  # the example itself, in the DAGs folder
        try:
            bag = DagBag(dag_folder=str(dag_file))
            assert bag.import_errors == {}
            run, log = run_logged(bag.dags[DAG_ID])
        finally:
            dag_file.unlink()
    return {"root": root, "dag": bag.dags[DAG_ID], "run": run, "log": log, "db": airflow_db,
           "local": local_datasets(local), "plan": read_plan(root / "world" / "world.plan.json")}


def test_only_the_flows_interpreter_has_dataflows(world: dict[str, Any], flows_python: str) -> None:
    """Airflow's interpreter cannot import dataflows, even after running the DAG; the flows' can."""
    probe = ["-c", "import dataflows"]
    refused = subprocess.run([sys.executable, *probe], capture_output=True, text=True)
    assert refused.returncode == 1 and "No module named 'dataflows'" in refused.stderr
    assert subprocess.run([flows_python, *probe], capture_output=True).returncode == 0
    assert "dataflows" not in sys.modules  # parsing and all four tasks ran in this process


def test_every_flow_is_an_external_task_of_the_plan(world: dict[str, Any], flows_python: str) -> None:
    """One task per flow of the compiled plan, edges from it, each run by the flows' interpreter."""
    dag, plan = world["dag"], world["plan"]
    assert [task.task_id for task in dag.tasks] == FLOWS
    assert {(up, task.task_id) for task in dag.tasks for up in task.upstream_task_ids} == set(plan.edges())
    for task in dag.tasks:
        assert isinstance(task, DataflowsExternalFlowOperator)
        assert task.python == flows_python
        assert task.plan_path == str(world["root"] / "world" / "world.plan.json")
    assert dag.task_dict["cities"].retries == 2


def test_datasets_equal_the_local_runners(world: dict[str, Any]) -> None:
    """Every task succeeds at its first attempt; the datasets equal the local runner's."""
    assert task_states(world["run"]) == dict.fromkeys(FLOWS, ("success", 1))
    assert stored(world["root"] / "world" / "data", "world", FLOWS) == world["local"]
    assert set(world["local"]) == set(FLOWS)


def test_xcom_holds_each_step_result(world: dict[str, Any]) -> None:
    """Each task's XCom is the StepResult the other interpreter produced, with Airflow's run id."""
    results = {task: StepResult.from_dict(value)
               for task, value in xcoms(world["db"], DAG_ID, world["run"].run_id).items()}
    assert sorted(results) == sorted(FLOWS)
    for flow, result in results.items():
        assert (result.flow, result.status, result.attempt) == (flow, "succeeded", 1)
        assert result.run_id == world["run"].run_id
        assert (result.rows, result.content_hash) == world["local"][flow]
        assert result.dataset_uri == str(world["root"] / "world" / "data" / "world" / flow)


def test_task_log_shows_the_flows_log(world: dict[str, Any], flows_python: str) -> None:
    """The task log holds the flow's own lines, as the other interpreter printed them."""
    log = world["log"]
    assert f"interpreter {flows_python}" in log
    for line in ("flow 'countries' done: 15 rows", "flow 'cities' done: 32 rows",
                 "flow 'key_metrics' done: 15 rows", "flow 'publish' done: 2 rows"):
        assert line in log


def test_example_without_its_interpreter_is_an_import_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without DFF_FLOWS_PYTHON the example DAG file fails to import with what to set, to what."""
    monkeypatch.delenv("DFF_FLOWS_PYTHON")
    bag = DagBag(dag_folder=str(EXAMPLE_DAG))
    assert bag.dags == {}
    (error,) = bag.import_errors.values()
    assert "world_external: set DFF_FLOWS_PYTHON to the python of a virtualenv that has " \
           "dataflows-factory installed" in error
