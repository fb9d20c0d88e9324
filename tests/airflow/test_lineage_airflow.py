"""OpenLineage from the world DAG, with and without Airflow's OpenLineage provider.

Each DAG runs (``dag.test()``) in a fresh interpreter: the provider decides whether its
listener is on when its plugin is imported, so the OpenLineage configuration must be in the
environment before Airflow starts. Events go to the client's file transport.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import airflow.providers.openlineage
import pytest
from airflow.providers.openlineage.plugins.adapter import OpenLineageAdapter
from airflow_support import write_dag
from lineage_support import by_job, file_transport, read_events, validate_event

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "world"
FLOWS = ["countries", "cities", "key_metrics", "publish"]
NAMESPACE = "airflow-tests"
PROVIDER_FACETS = Path(airflow.providers.openlineage.__file__).parent / "facets"
# The flows' own environment (the noxfile's flows_python: the package, openlineage-python, no
# Airflow), as in tests/airflow_external.
FLOWS_PYTHON = os.environ.get("DFF_FLOWS_PYTHON", str(ROOT / ".nox" / "flows" / "bin" / "python"))

# Runs DAGs in this interpreter and prints what the test needs to know of their runs.
RUN_DAGS = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
for dag_id, dag_file in {dags!r}.items():
    bag = DagBag(dag_folder=dag_file)
    assert bag.import_errors == {{}}, bag.import_errors
    parsed = sorted(m for m in sys.modules if m.split(".")[0] in ("openlineage", "dataflows")
                    or m.startswith("dataflows_factory.lineage"))
    run = bag.dags[dag_id].test()
    print("RESULT " + json.dumps({{
        "dag_id": dag_id, "state": run.state, "parsed": parsed,
        "logical_date": (run.logical_date or run.run_after).isoformat(),
        "clear_number": run.clear_number or 0,
    }}))
"""


# A flow that fails on its third row (a value that is no integer), with no retries.
BROKEN = """
from dataflows import Flow, load, set_type

from dataflows_factory import Factory

factory = Factory("broken", store="data")


@factory.flow()
def readings():
    return Flow(load("raw/readings.csv", name="readings"), set_type("value", type="integer"))
"""


def factory_folder(root: Path, name: str) -> Path:
    """The factory file of a private copy of the world example, or of the broken factory."""
    if name == "world":
        shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("data", "__pycache__"))
    else:
        (root / "raw").mkdir(parents=True)
        (root / "raw" / "readings.csv").write_text("id,value\n1,10\n2,20\n3,x\n")
        (root / "factory.py").write_text(BROKEN)
    return root / "factory.py"


def dag_source(dag_id: str, factory_file: Path, store: Path, group_by: str) -> str:
    """A DAG file: the factory's flows as tasks, or (``group_by="external"``) the flows run by
    the flows' interpreter from a plan it compiled."""
    if group_by != "external":
        return ("from dataflows_factory.airflow_provider import build_dag\n"
                f"dag = build_dag({str(factory_file)!r}, dag_id={dag_id!r}, store={str(store)!r}, "
                f"group_by={group_by!r})\n")
    plan = factory_file.with_name("world.plan.json")
    subprocess.run([FLOWS_PYTHON, "-m", "dataflows_factory", "compile", str(factory_file), "-o", str(plan)],
                   check=True, capture_output=True, timeout=120)
    return ("from dataflows_factory.airflow_provider import build_dag\n"
            f"dag = build_dag(plan={str(plan)!r}, dag_id={dag_id!r}, store={str(store)!r}, "
            f"python={FLOWS_PYTHON!r})\n")


def start_dags(root: Path, dags: dict[str, tuple[str, str]], *, provider: bool) -> dict[str, Any]:
    """Start running DAGs (dag id -> factory, ``group_by``) with ``dag.test()`` in another
    interpreter, with the file transport on; :func:`finish` waits for them."""
    files, stores = {}, {}
    for dag_id, (factory, group_by) in dags.items():
        factory_file = factory_folder(root / dag_id, factory)
        stores[dag_id] = root / dag_id / "store"
        files[dag_id] = str(write_dag(dag_id, dag_source(dag_id, factory_file, stores[dag_id], group_by)))
    events = root / "events.jsonl"
    env = {**os.environ, **file_transport(events), "OPENLINEAGE_NAMESPACE": NAMESPACE}
    if not provider:
        # The provider switched off, its listener not loaded: as if it were not installed
        # (Airflow cannot start with an installed provider hidden from imports).
        env["AIRFLOW__OPENLINEAGE__DISABLED"] = "true"
    # Output to files, not pipes: Airflow logs a lot, and an undrained pipe would stall it.
    with open(root / "stdout.txt", "w") as stdout, open(root / "stderr.txt", "w") as stderr:
        process = subprocess.Popen([sys.executable, "-c", RUN_DAGS.format(dags=files)], env=env,
                                   cwd=root, stdout=stdout, stderr=stderr)
    return {"process": process, "stores": stores, "events": events, "root": root}


def finish(started: dict[str, Any]) -> dict[str, Any]:
    """Each DAG's run (state, dates, store) and all the events, once the interpreter is done."""
    try:
        started["process"].wait(timeout=300)
    finally:
        started["process"].kill()  # a no-op when it ended; never left behind by a failed test
    stdout = (started["root"] / "stdout.txt").read_text()
    runs = [json.loads(line[len("RESULT "):]) for line in stdout.splitlines() if line.startswith("RESULT ")]
    assert started["process"].returncode == 0 and len(runs) == len(started["stores"]), \
        (started["root"] / "stderr.txt").read_text()[-3000:]
    return {"runs": {run["dag_id"]: {**run, "store": started["stores"][run["dag_id"]]} for run in runs},
            "events": read_events(started["events"])}


@pytest.fixture(scope="module")
def both_runs(tmp_path_factory: pytest.TempPathFactory, airflow_db: str) -> dict[str, dict[str, Any]]:
    """Both set-ups at once (two interpreters, one per core):

    - provider: the world DAG, a task per flow and one task for all, and a failing DAG;
    - bare (the provider off): the world DAG in Airflow's process and run by the flows' interpreter.
    """
    root = tmp_path_factory.mktemp("ol-airflow")
    provider = start_dags(root / "provider", {"lineage_provider": ("world", "flow"),
                                              "lineage_grouped": ("world", "factory"),
                                              "lineage_failing": ("broken", "flow")}, provider=True)
    # The plan's DAG first: its parse is checked in a fresh interpreter.
    bare = start_dags(root / "bare", {"lineage_external": ("world", "external"),
                                      "lineage_bare": ("world", "flow")}, provider=False)
    return {"provider": finish(provider), "bare": finish(bare)}


@pytest.fixture(scope="module")
def provider_run(both_runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The DAGs run with the OpenLineage provider on."""
    return both_runs["provider"]


@pytest.fixture(scope="module")
def bare_run(both_runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The DAGs run with the provider off: the steps emit their own events."""
    return both_runs["bare"]


@pytest.fixture
def namespace(monkeypatch: pytest.MonkeyPatch) -> str:
    """The runs' OpenLineage namespace, set here too: the provider's run ids depend on it."""
    monkeypatch.setenv("OPENLINEAGE_NAMESPACE", NAMESPACE)
    return NAMESPACE


def validate_events(events: list[dict[str, Any]]) -> None:
    """Every event and facet against the OpenLineage schemas and the provider's own facets'."""
    assert events
    for event in events:
        validate_event(event, PROVIDER_FACETS)


def named(job: dict[str, Any]) -> tuple[str, str]:
    return job["namespace"], job["name"]


def test_provider_emits_one_start_and_one_complete_per_task_with_the_datasets(
        provider_run: dict[str, Any]) -> None:
    """With the provider, each task has exactly one START and one COMPLETE, carrying the
    operator's inputs and outputs (schema, rows, bytes, content hash); the steps emit nothing."""
    run = provider_run["runs"]["lineage_provider"]
    assert run["state"] == "success"
    validate_events(provider_run["events"])
    jobs = by_job(provider_run["events"])
    for flow in FLOWS:
        kinds = Counter(event["eventType"] for event in jobs[f"lineage_provider.{flow}"])
        assert kinds == {"START": 1, "COMPLETE": 1}, (flow, kinds)
    # No second copy from the steps (jobs <factory>.<flow>), even of a failed one.
    assert not [job for job in jobs if job.startswith(("world", "broken"))]
    complete = jobs["lineage_provider.key_metrics"][-1]
    store = run["store"] / "world"
    assert {d["name"] for d in complete["inputs"]} == {str(store / "countries"), str(store / "cities")}
    [output] = complete["outputs"]
    assert (output["namespace"], output["name"]) == ("file", str(store / "key_metrics"))
    descriptor = json.loads((store / "key_metrics" / "datapackage.json").read_text())
    assert output["outputFacets"]["outputStatistics"]["rowCount"] == 15
    assert output["outputFacets"]["outputStatistics"]["size"] > 0
    assert output["facets"]["dataflowsFactory"]["contentHash"] in json.dumps(descriptor)
    assert "urban_share" in {field["name"] for field in output["facets"]["schema"]["fields"]}
    start = jobs["lineage_provider.cities"][0]
    assert start["eventType"] == "START"
    assert [d["name"] for d in start["inputs"]] == [str(run["store"].parent / "raw" / "cities.csv")]


def test_provider_events_name_the_dag_run_as_parent(provider_run: dict[str, Any], namespace: str) -> None:
    """The provider's task events keep Airflow's naming: job ``<dag>.<task>``, parent the DAG run."""
    run = provider_run["runs"]["lineage_provider"]
    dag_run_id = OpenLineageAdapter.build_dag_run_id(
        dag_id="lineage_provider", logical_date=datetime.fromisoformat(run["logical_date"]),
        clear_number=run["clear_number"])
    for flow in FLOWS:
        for event in by_job(provider_run["events"])[f"lineage_provider.{flow}"]:
            parent = event["run"]["facets"]["parent"]
            assert named(parent["job"]) == (namespace, "lineage_provider")
            assert parent["run"]["runId"] == dag_run_id


def test_provider_events_of_a_group_task_hold_every_flow_of_the_group(provider_run: dict[str, Any]) -> None:
    """One task for the whole factory: one START and one COMPLETE listing the four datasets it
    wrote (with their row counts) and, as inputs, only the files it read from outside."""
    run = provider_run["runs"]["lineage_grouped"]
    assert run["state"] == "success"
    events = by_job(provider_run["events"])["lineage_grouped.world"]
    assert [event["eventType"] for event in events] == ["START", "COMPLETE"]
    store, raw = run["store"] / "world", run["store"].parent / "raw"
    rows = {d["name"]: d["outputFacets"]["outputStatistics"]["rowCount"] for d in events[1]["outputs"]}
    assert rows == {str(store / "countries"): 15, str(store / "cities"): 32,
                    str(store / "key_metrics"): 15, str(store / "publish"): 2}
    assert sorted(d["name"] for d in events[1]["inputs"]) == sorted(
        str(raw / name) for name in ("cities.csv", "countries.csv", "sources.csv"))


@pytest.mark.parametrize("dag_id", ["lineage_bare", "lineage_external"])
def test_without_provider_steps_emit_as_children_of_the_task_instance(bare_run: dict[str, Any],
                                                                     namespace: str, dag_id: str) -> None:
    """Without the provider, each step (in Airflow's process, or the flows' interpreter) emits
    START and COMPLETE itself, its parent the task instance and its root the DAG run, with the
    run ids the provider would have given them."""
    run = bare_run["runs"][dag_id]
    assert run["state"] == "success"
    validate_events(bare_run["events"])
    assert not [e for e in bare_run["events"] if e["job"]["name"].startswith("lineage_")]  # no provider
    mine = [e for e in bare_run["events"] if e["run"]["facets"]["parent"]["root"]["job"]["name"] == dag_id]
    jobs = by_job(mine)
    logical_date = datetime.fromisoformat(run["logical_date"])
    dag_run_id = OpenLineageAdapter.build_dag_run_id(
        dag_id=dag_id, logical_date=logical_date, clear_number=run["clear_number"])
    assert sorted(jobs) == sorted(f"world.{flow}" for flow in FLOWS)
    for flow in FLOWS:
        events = jobs[f"world.{flow}"]
        assert [event["eventType"] for event in events] == ["START", "COMPLETE"]
        task_run_id = OpenLineageAdapter.build_task_instance_run_id(
            dag_id=dag_id, task_id=flow, try_number=1, logical_date=logical_date, map_index=-1)
        for event in events:
            parent = event["run"]["facets"]["parent"]
            assert named(parent["job"]) == (namespace, f"{dag_id}.{flow}")
            assert parent["run"]["runId"] == task_run_id
            assert named(parent["root"]["job"]) == (namespace, dag_id)
            assert parent["root"]["run"]["runId"] == dag_run_id
    [output] = jobs["world.key_metrics"][-1]["outputs"]
    assert output["name"] == str(run["store"] / "world" / "key_metrics")


def test_parsing_the_dag_file_imports_no_lineage_code(bare_run: dict[str, Any]) -> None:
    """With lineage configured, parsing a DAG file (from a compiled plan, the first thing the
    interpreter does) imports neither openlineage, nor our lineage code, nor dataflows."""
    assert bare_run["runs"]["lineage_external"]["parsed"] == []


def test_provider_reports_a_failed_task_once_with_the_step_error(provider_run: dict[str, Any]) -> None:
    """A failing flow's task has one START and one FAIL, whose error message is the step's one
    line naming the flow, the processor and the row; its output has no statistics."""
    assert provider_run["runs"]["lineage_failing"]["state"] == "failed"
    events = by_job(provider_run["events"])["lineage_failing.readings"]
    assert [event["eventType"] for event in events] == ["START", "FAIL"]
    message = events[1]["run"]["facets"]["errorMessage"]["message"]
    assert "flow 'readings'" in message and "set_type" in message and "row 3" in message, message
    [output] = events[1]["outputs"]
    assert not output.get("outputFacets")
