"""Execution modes on Airflow: DAGs from compiled plans, and flows grouped into fewer tasks.

Every DAG is built from a plan compiled by ``dff compile`` and run by ``dag.test()``: a task per
flow, a task per tag, and the whole factory as one task write the local runner's datasets.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow_support import pg_execute, write_dag
from conformance.datasets import stored

from dataflows_factory import StepResult, load_factory
from dataflows_factory.adapters.compiled import compile_plan, write_plan
from dataflows_factory.airflow_provider import DataflowsGroupOperator, asset_uri, build_dag
from dataflows_factory.runner import run

EXAMPLE = Path(__file__).resolve().parents[2] / "examples"
FLOWS = ["countries", "cities", "key_metrics", "publish"]
MODES = {"flow": FLOWS, "tag": ["source", "metrics"], "factory": ["world"]}

# Builds the three DAGs from the plan in a fresh interpreter; prints their topology and
# whether the factory or dataflows got imported on the way.
PARSE = """
import json, sys
from dataflows_factory.airflow_provider import build_dag
dags = {{mode: build_dag(plan={plan!r}, dag_id=f"parse_{{mode}}", group_by=mode) for mode in {modes!r}}}
print(json.dumps({{
    "dags": {{mode: {{t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks}}
             for mode, dag in dags.items()}},
    "dataflows": sorted(m for m in sys.modules if m.split(".")[0] == "dataflows"),
    "factory": [m for m, mod in list(sys.modules.items()) if getattr(mod, "__file__", None) == {factory!r}],
}}))
"""


def copy_world(root: Path) -> Path:
    shutil.copytree(EXAMPLE / "world", root, ignore=shutil.ignore_patterns("data", "__pycache__", "*.json"))
    return root / "factory.py"


def compile_file(factory_file: Path, plan: Path) -> None:
    """``dff compile`` in another process: this one keeps no import of the factory's code."""
    subprocess.run([sys.executable, "-m", "dataflows_factory", "compile", str(factory_file), "-o", str(plan)],
                   check=True, capture_output=True, timeout=120)


def load_dag(dag_id: str, source: str) -> Any:
    bag = DagBag(dag_folder=str(write_dag(dag_id, "from dataflows_factory.airflow_provider import build_dag\n"
                                                   f"dag = {source}\n")))
    assert bag.import_errors == {}
    return bag.dags[dag_id]


def xcoms(db: str, dag_id: str, run_id: str) -> dict[str, Any]:
    rows = pg_execute("SELECT task_id, value FROM xcom WHERE dag_id = %s AND run_id = %s "
                      "AND key = 'return_value'", (dag_id, run_id), dbname=db)
    return dict(rows)


def states(dag_run: Any) -> dict[str, tuple[str, int]]:
    return {ti.task_id: (ti.state, ti.try_number) for ti in dag_run.get_task_instances()}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, airflow_db: str) -> dict[str, Any]:
    """The world factory compiled to a plan, one DAG per granularity, each run once by dag.test()."""
    root = tmp_path_factory.mktemp("modes")
    factory_file = copy_world(root / "world")
    plan = root / "world.plan.json"
    write_plan(compile_plan(load_factory(str(factory_file))), plan)
    local = root / "local"
    assert run(load_factory(str(factory_file)), store=local, show_progress=False).ok
    dags, runs = {}, {}
    for mode in MODES:
        dag_id = f"modes_{mode}"
        dags[mode] = load_dag(dag_id, f"build_dag(plan={str(plan)!r}, dag_id={dag_id!r}, "
                                      f"group_by={mode!r}, store={str(root / mode)!r})")
        runs[mode] = dags[mode].test()
    return {"root": root, "factory": factory_file, "plan": plan, "local": stored(local, "world", FLOWS),
            "dags": dags, "runs": runs, "db": airflow_db}


def test_parsing_from_a_plan_imports_neither_the_factory_nor_dataflows(world: dict[str, Any]) -> None:
    """A fresh interpreter builds all three granularities from the plan without importing either."""
    code = PARSE.format(plan=str(world["plan"]), modes=list(MODES), factory=str(world["factory"]))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["dataflows"] == [] and found["factory"] == []
    assert found["dags"] == {
        "flow": {"countries": ["key_metrics"], "cities": ["key_metrics"], "key_metrics": ["publish"],
                 "publish": []},
        "tag": {"source": ["metrics"], "metrics": []},
        "factory": {"world": []},
    }


def test_every_granularity_writes_the_local_runners_datasets(world: dict[str, Any]) -> None:
    """Per flow, per tag and as one task: every task succeeds once; rows and content hashes match."""
    for mode, tasks in MODES.items():
        assert states(world["runs"][mode]) == dict.fromkeys(tasks, ("success", 1)), mode
        assert stored(world["root"] / mode, "world", FLOWS) == world["local"], mode


def test_a_group_task_surfaces_each_flow(world: dict[str, Any]) -> None:
    """A group task declares an Asset per flow, emits an event per flow, and XComs a StepResult per flow."""
    dag, run_id = world["dags"]["tag"], world["runs"]["tag"].run_id
    source = dag.task_dict["source"]
    store = world["root"] / "tag"
    assert isinstance(source, DataflowsGroupOperator) and source.flows == ["countries", "cities"]
    assert [a.uri for a in source.outlets] == [asset_uri(str(store / "world" / f)) for f in FLOWS[:2]]
    assert [a.uri for a in dag.task_dict["metrics"].inlets] == [a.uri for a in source.outlets]
    assert source.retries == 0 and source.plan_path == str(world["plan"])
    results = {task: {unit: StepResult.from_dict(value) for unit, value in units.items()}
               for task, units in xcoms(world["db"], "modes_tag", run_id).items()}
    assert {task: sorted(units) for task, units in results.items()} == {
        "source": ["cities", "countries"], "metrics": ["key_metrics", "publish"]}
    metrics = results["metrics"]["key_metrics"]
    assert (metrics.status, metrics.rows, metrics.dataset_uri) == (
        "succeeded", {"key_metrics": 15}, str(store / "world" / "key_metrics"))
    events = pg_execute("SELECT e.source_task_id, a.uri FROM asset_event e JOIN asset a ON a.id = e.asset_id "
                        "WHERE e.source_dag_id = %s AND e.source_run_id = %s", ("modes_tag", run_id),
                        dbname=world["db"])
    assert sorted(events) == sorted((task, asset_uri(str(store / "world" / flow)))
                                    for task, flows in (("source", FLOWS[:2]), ("metrics", FLOWS[2:]))
                                    for flow in flows)


def test_unchanged_flows_skip_inside_a_group(world: dict[str, Any]) -> None:
    """A second run of the one-task DAG succeeds and reports every flow skipped, datasets untouched."""
    again = world["dags"]["factory"].test()
    assert states(again) == {"world": ("success", 1)}
    units = xcoms(world["db"], "modes_factory", again.run_id)["world"]
    assert {unit: value["status"] for unit, value in units.items()} == dict.fromkeys(FLOWS, "skipped")
    assert stored(world["root"] / "factory", "world", FLOWS) == world["local"]


def test_stale_plan_fails_with_one_line_and_no_retry(world: dict[str, Any], tmp_path: Path,
                                                     capfd: pytest.CaptureFixture[str]) -> None:
    """After the factory's code changes, flow and group tasks fail at once, saying to re-run dff compile."""
    factory_file = copy_world(tmp_path / "world")
    plan = tmp_path / "world.plan.json"
    compile_file(factory_file, plan)
    code = factory_file.read_text()
    factory_file.write_text(code.replace('row["population"] > 0', 'row["population"] > 10'))
    line = ("the compiled plan of factory 'world' no longer matches its code (code of flow(s) "
            "['cities'] changed): re-run `dff compile")
    for mode, failed in (("flow", "cities"), ("factory", "world")):
        dag_id = f"stale_{mode}"
        dag = load_dag(dag_id, f"build_dag(plan={str(plan)!r}, dag_id={dag_id!r}, group_by={mode!r}, "
                               f"store={str(tmp_path / 'store')!r})")
        dag_run = dag.test()
        assert dag_run.state == "failed"
        assert states(dag_run)[failed] == ("failed", 1)  # cities has retries=2: none burned
        assert line in capfd.readouterr().out
    assert not (tmp_path / "store" / "world" / "cities").exists()


SHOP = '''\
from dataflows import Flow, load, set_type

from dataflows_factory import Factory

factory = Factory("shop", store="data")


@factory.flow(partitions=["eu", "us", "apac"])
def sales(partition):
    return Flow(load(f"raw/{partition}.csv", name="sales"))


@factory.flow()
def total(sales):
    return Flow(sales)


@factory.flow()
def readings():
    return Flow(load("raw/readings.csv", name="readings"), set_type("value", type="integer"))
'''


def test_partitions_and_failures_inside_a_group(airflow_db: str, tmp_path: Path,
                                                capfd: pytest.CaptureFixture[str]) -> None:
    """One task runs a partitioned flow and its merge like the local runner; a failing flow is named."""
    (tmp_path / "raw").mkdir()
    for region, amounts in {"eu": [10, 20], "us": [5], "apac": [7, 8, 9]}.items():
        rows = "".join(f"{region},{amount}\n" for amount in amounts)
        (tmp_path / "raw" / f"{region}.csv").write_text("region,amount\n" + rows)
    (tmp_path / "raw" / "readings.csv").write_text("station,value\na,1\nb,2\n")
    (tmp_path / "factory.py").write_text(SHOP)
    plan = tmp_path / "shop.plan.json"
    compile_file(tmp_path / "factory.py", plan)
    dag = load_dag("modes_shop", f"build_dag(plan={str(plan)!r}, dag_id='modes_shop', group_by='factory', "
                                 f"store={str(tmp_path / 'airflow')!r})")
    first = dag.test()
    assert states(first) == {"shop": ("success", 1)}
    units = xcoms(airflow_db, "modes_shop", first.run_id)["shop"]
    assert {u: v["status"] for u, v in units.items()} == dict.fromkeys(
        ["sales[eu]", "sales[us]", "sales[apac]", "sales", "total", "readings"], "succeeded")
    report = run(load_factory(str(tmp_path / "factory.py")), store=tmp_path / "local", show_progress=False)
    datasets = ["sales@eu", "sales@us", "sales@apac", "sales", "total", "readings"]
    assert stored(tmp_path / "airflow", "shop", datasets) == stored(tmp_path / "local", "shop", datasets)
    assert report.results["total"].rows == {"sales": 6}
    capfd.readouterr()

    (tmp_path / "raw" / "readings.csv").write_text("station,value\na,1\nb,2\nc,n/a\n")
    second = dag.test()
    assert states(second) == {"shop": ("failed", 1)}
    out = capfd.readouterr().out
    assert "group 'shop': flow 'readings', processor 'set_type' (step #2), resource 'readings', row 3" in out
    assert "flow 'total' skipped" in out  # the other flows ran, and said so, one line each
    units = xcoms(airflow_db, "modes_shop", second.run_id)["shop"]
    assert (units["readings"]["status"], units["total"]["status"]) == ("failed", "skipped")


def test_builder_refuses_unclear_input(world: dict[str, Any]) -> None:
    """Factory and plan together, python= with groups, python= without a plan file: one clear error each."""
    plan = str(world["plan"])
    with pytest.raises(ValueError, match="give a factory or plan="):
        build_dag(str(world["factory"]), plan=plan)
    with pytest.raises(ValueError, match="one task per flow for now"):
        build_dag(plan=plan, group_by="tag", python=sys.executable)
    with pytest.raises(ValueError, match="needs plan= as the path"):
        build_dag(str(world["factory"]), python=sys.executable)


def test_grouping_function_and_selection_on_a_plan(world: dict[str, Any]) -> None:
    """A grouping function names groups (None: own task); select= picks flows of the plan."""
    dag = build_dag(plan=world["plan"], dag_id="modes_fn",
                    group_by=lambda step: "joined" if step.name in ("key_metrics", "publish") else None)
    assert {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks} == {
        "countries": ["joined"], "cities": ["joined"], "joined": []}
    selected = build_dag(plan=world["plan"], dag_id="modes_select", select="+key_metrics", group_by="factory")
    assert [(t.task_id, t.flows) for t in selected.tasks] == [("world", FLOWS[:3])]


def test_example_world_grouped(world: dict[str, Any], tmp_path: Path) -> None:
    """examples/airflow/dags/world_grouped.py parses from the factory, then from a compiled plan, and runs."""
    shutil.copytree(EXAMPLE / "airflow", tmp_path / "airflow")
    factory_file = copy_world(tmp_path / "world")
    example = tmp_path / "airflow" / "dags" / "world_grouped.py"
    from_factory = DagBag(dag_folder=str(example))
    assert from_factory.import_errors == {}
    assert [t.task_id for t in from_factory.dags["world_grouped"].tasks] == ["source", "metrics"]
    write_plan(compile_plan(load_factory(str(factory_file)), store=tmp_path / "store"),
               tmp_path / "world" / "world.plan.json")
    # dag.test() runs DAGs of the DAGs folder: a file there runs the copied example.
    dag = load_dag("world_grouped", f"__import__('runpy').run_path({str(example)!r})['dag']")
    assert dag.task_dict["source"].plan_path == str(tmp_path / "world" / "world.plan.json")
    assert states(dag.test()) == {"source": ("success", 1), "metrics": ("success", 1)}
    assert stored(tmp_path / "store", "world", FLOWS) == world["local"]
