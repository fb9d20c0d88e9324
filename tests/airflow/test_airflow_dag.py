"""build_dag / build_task_group compile the Plan into native tasks, edges and Assets, reading no data."""

from __future__ import annotations

import dataclasses
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, Asset
from dataflows import Flow, load

from dataflows_factory import Factory, FactoryRefError, load_factory
from dataflows_factory.airflow_provider import (
    DataflowsFlowOperator,
    DataflowsTranslator,
    TaskSpec,
    build_dag,
    build_task_group,
)

EXAMPLE_DAGS = Path(__file__).resolve().parents[2] / "examples" / "airflow" / "dags"
FLOWS = ["countries", "cities", "key_metrics", "publish"]


def edges(dag: object) -> set[tuple[str, str]]:
    return {(up, task.task_id) for task in dag.tasks for up in task.upstream_task_ids}  # type: ignore[attr-defined]


def uris(assets: list[Asset]) -> list[str]:
    return [asset.uri for asset in assets]


def test_example_dags_import_without_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    """A DagBag of examples/airflow/dags holds the world DAGs; the only import error is the one
    world_external.py gives on purpose without its flows' interpreter, saying what to set."""
    monkeypatch.delenv("DFF_FLOWS_PYTHON", raising=False)
    bag = DagBag(dag_folder=str(EXAMPLE_DAGS))
    assert list(bag.import_errors) == [str(EXAMPLE_DAGS / "world_external.py")]
    assert "DFF_FLOWS_PYTHON" in next(iter(bag.import_errors.values()))
    assert sorted(bag.dags) == ["world", "world_grouped"]
    assert [t.task_id for t in bag.dags["world"].tasks] == FLOWS


def test_world_compiles_to_one_task_per_flow(world_file: Path, tmp_path: Path) -> None:
    """Tasks, edges, retries, Asset outlets/inlets and docs all come from the factory's Plan."""
    store = tmp_path / "store"
    dag = build_dag(world_file, dag_id="world_topology", store=store)
    plan = load_factory(str(world_file)).plan(store=store)
    assert dag.dag_id == "world_topology"
    assert [t.task_id for t in dag.tasks] == FLOWS
    assert edges(dag) == set(plan.edges())
    tasks = dag.task_dict
    assert tasks["cities"].retries == 2 and tasks["cities"].retry_delay == timedelta(0)
    assert tasks["countries"].retries == 0
    for flow in FLOWS:
        assert isinstance(tasks[flow], DataflowsFlowOperator)
        assert tasks[flow].factory_ref == plan.factory_ref
        assert tasks[flow].store == str(store)
        assert uris(tasks[flow].outlets) == [(store / "world" / flow).as_uri()]
    # Inlets are the datasets a flow reads; an order-only dependency (publish) reads none.
    assert uris(tasks["key_metrics"].inlets) == [
        (store / "world" / f).as_uri() for f in ("countries", "cities")]
    assert tasks["publish"].inlets == []
    assert tasks["cities"].doc_md == "Cities with a known population (placeholder rows dropped)."
    assert set(DataflowsFlowOperator.template_fields) == {"factory_ref", "store", "force", "plan_path"}
    assert set(dag.tags) == {"dataflows-factory", "world"}


def test_building_reads_no_data(world_file: Path, tmp_path: Path) -> None:
    """Building needs neither the input files nor the store: no flow runs, nothing is written."""
    shutil.rmtree(world_file.parent / "raw")
    store = tmp_path / "never-created"
    dag = build_dag(str(world_file), store=store)
    assert len(dag.tasks) == 4
    assert not store.exists()
    assert not (world_file.parent / "data").exists()


def test_selection(world_file: Path) -> None:
    """select= takes the local runner's syntax: +name pulls in upstream flows."""
    assert [t.task_id for t in build_dag(world_file, select="+key_metrics").tasks] == FLOWS[:3]
    only = build_dag(world_file, dag_id="only_publish", select="publish")
    assert [t.task_id for t in only.tasks] == ["publish"]
    assert edges(only) == set()


def test_flow_retries_win_over_default_args(world_file: Path) -> None:
    """A flow's own retries beat default_args; flows without retries inherit them."""
    dag = build_dag(world_file, default_args={"retries": 5, "owner": "data"},
                    task_kwargs={"pool": "etl"})
    assert dag.task_dict["cities"].retries == 2
    assert dag.task_dict["countries"].retries == 5
    assert {t.owner for t in dag.tasks} == {"data"}
    assert {t.pool for t in dag.tasks} == {"etl"}


class SourcesPool(DataflowsTranslator):
    """Source flows go to their own pool and get one retry more."""

    def get_task_spec(self, plan, step):  # type: ignore[no-untyped-def]
        spec: TaskSpec = super().get_task_spec(plan, step)
        if "source" in step.tags:
            return dataclasses.replace(spec, retries=(spec.retries or 0) + 1,
                                       operator_kwargs={"pool": "sources"})
        return spec


def test_translator_is_the_override_point(world_file: Path) -> None:
    """A translator subclass changes tasks per flow; the builder and operator both honour it."""
    dag = build_dag(world_file, translator=SourcesPool())
    assert {t.task_id: (t.pool, t.retries) for t in dag.tasks} == {
        "countries": ("sources", 1), "cities": ("sources", 3),
        "key_metrics": ("default_pool", 0), "publish": ("default_pool", 0),
    }


def test_task_group_embeds_a_factory(world_file: Path) -> None:
    """build_task_group nests the flows under a group that other tasks can depend on."""
    with DAG("nightly", schedule=None) as dag:
        start, end = EmptyOperator(task_id="start"), EmptyOperator(task_id="end")
        start >> build_task_group(world_file, group_id="world") >> end
    assert sorted(dag.task_dict) == sorted(["start", "end", *(f"world.{f}" for f in FLOWS)])
    assert {("start", "world.countries"), ("start", "world.cities"),
            ("world.key_metrics", "world.publish"), ("world.publish", "end")} <= edges(dag)
    assert dag.task_dict["world.key_metrics"].flow == "key_metrics"


def test_operator_alone_reads_options_from_the_factory(world_file: Path, tmp_path: Path) -> None:
    """Used without build_dag, the operator still gets the flow's retries and Assets."""
    store = tmp_path / "store"
    with DAG("by_hand", schedule=None):
        task = DataflowsFlowOperator(factory_ref=f"{world_file}:factory", flow="cities", store=str(store))
        templated = DataflowsFlowOperator(factory_ref="{{ var.value.world_ref }}", flow="countries")
    assert (task.task_id, task.retries) == ("cities", 2)
    assert uris(task.outlets) == [(store / "world" / "cities").as_uri()]
    assert templated.outlets == []  # unknown until rendered: nothing is guessed at parse time


def test_unimportable_factory_is_refused() -> None:
    """A factory that workers cannot import by reference fails at build time, naming the fix."""
    local = Factory("adhoc")

    @local.flow()
    def numbers():  # type: ignore[no-untyped-def]
        return Flow(load("numbers.csv"))

    with pytest.raises(FactoryRefError, match="module level"):
        build_dag(local)


PARTITIONED = """\
from dataflows import Flow, load
from dataflows_factory import Factory

factory = Factory("parts")


@factory.flow(partitions=["eu", "us"])
def sales(partition):
    return Flow(load(f"raw/{partition}.csv"))


@factory.flow()
def regions():
    return Flow(load("raw/regions.csv"))
"""


def test_partitioned_flow_maps_over_its_partitions_then_merges(tmp_path: Path) -> None:
    """A partitioned flow compiles to a task mapped over the plan's partitions, then its merge."""
    (tmp_path / "factory.py").write_text(PARTITIONED.replace("def regions():", "def regions(sales):"))
    dag = build_dag(tmp_path / "factory.py", task_kwargs={"pool": "etl"})
    assert {t.task_id for t in dag.tasks} == {"sales.partition", "sales", "regions"}
    assert edges(dag) == {("sales.partition", "sales"), ("sales", "regions")}
    mapped = dag.get_task("sales.partition")
    assert mapped.expand_input.value == {"partition": ["eu", "us"]}
    assert mapped.partial_kwargs["flow"] == "sales" and mapped.partial_kwargs["pool"] == "etl"
    # The merge publishes the flow's dataset: it holds the Asset downstream flows read.
    assert uris(dag.get_task("sales").outlets) == [f"file://{tmp_path}/data/parts/sales"]
    assert dag.get_task("sales").partition is None
    group_dag = DAG("with_group", schedule=None)
    with group_dag:
        build_task_group(tmp_path / "factory.py", group_id="parts")
    assert edges(group_dag) == {("parts.sales.partition", "parts.sales"), ("parts.sales", "parts.regions")}
