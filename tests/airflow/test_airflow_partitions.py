"""dag.test() runs a partitioned flow as mapped task instances plus a merge, like the local runner."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow_support import pg_execute, write_dag
from conformance.datasets import stored

from dataflows_factory import load_factory
from dataflows_factory.partitions import partition_key
from dataflows_factory.runner import run

DAG_ID = "dagtest_shop"
REGIONS = {"eu": [10, 20], "us": [5], "apac": [7, 8, 9], "latam/south": [1, 2, 3, 4]}

SHOP = '''\
from dataflows import Flow, load

from dataflows_factory import Factory

factory = Factory("shop", store="data")


@factory.flow(partitions={regions!r})
def sales(partition):
    return Flow(load(f"raw/{{partition}}.csv", name="sales"))


@factory.flow()
def total(sales):
    return Flow(sales)
'''


def write_shop(root: Path) -> Path:
    """The shop factory (four partitions, one with a '/' in its value) and its raw files."""
    for region, amounts in REGIONS.items():
        path = root / "raw" / f"{region}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("region,amount\n" + "".join(f"{region},{a}\n" for a in amounts))
    (root / "factory.py").write_text(SHOP.format(regions=list(REGIONS)))
    return root / "factory.py"


def flows() -> list[str]:
    return [f"sales@{partition_key(r)}" for r in REGIONS] + ["sales", "total"]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory, airflow_db: str) -> dict[str, Any]:
    """The shop factory's DAG in the DAGs folder, and a first dag.test()."""
    root = tmp_path_factory.mktemp("partitions")
    factory_file = write_shop(root / "shop")
    store = root / "airflow-store"
    path = write_dag(DAG_ID, (
        "from dataflows_factory.airflow_provider import build_dag\n"
        f"dag = build_dag({str(factory_file)!r}, dag_id={DAG_ID!r}, store={str(store)!r})\n"))
    bag = DagBag(dag_folder=str(path))
    assert bag.import_errors == {}
    dag = bag.dags[DAG_ID]
    return {"root": root, "factory": factory_file, "store": store, "dag": dag, "db": airflow_db,
            "first": dag.test()}


def instances(dag_run: Any) -> list[tuple[str, int, str, str | None]]:
    return sorted((ti.task_id, ti.map_index, ti.state, ti.rendered_map_index)
                  for ti in dag_run.get_task_instances())


def statuses(db: str, run_id: str) -> dict[tuple[str, int], str]:
    rows = pg_execute("SELECT task_id, map_index, value FROM xcom WHERE dag_id = %s AND run_id = %s "
                      "AND key = 'return_value'", (DAG_ID, run_id), dbname=db)
    return {(task, index): value["status"] for task, index, value in rows}


def test_one_mapped_instance_per_partition(shop: dict[str, Any]) -> None:
    """The run succeeds with one mapped instance per partition (labelled by it), a merge, and downstream."""
    assert shop["first"].state == "success"
    mapped = [("sales.partition", i, "success", region) for i, region in enumerate(REGIONS)]
    assert instances(shop["first"]) == sorted([*mapped, ("sales", -1, "success", None),
                                               ("total", -1, "success", None)])


def test_datasets_equal_the_local_runners(shop: dict[str, Any], tmp_path: Path) -> None:
    """Parts, merged dataset and downstream dataset have the local runner's rows and content hashes."""
    local = tmp_path / "local"
    report = run(load_factory(str(shop["factory"])), store=local, show_progress=False, jobs=2)
    assert set(report.results) == {*(f"sales[{r}]" for r in REGIONS), "sales", "total"}
    expected = stored(local, "shop", flows())
    assert stored(shop["store"], "shop", flows()) == expected
    assert expected["total"][0] == {"sales": sum(len(a) for a in REGIONS.values())}


def test_only_the_changed_partition_runs_again(shop: dict[str, Any]) -> None:
    """After one raw file changes, its mapped instance and the merge rerun; the other parts skip."""
    raw = shop["root"] / "shop" / "raw" / "us.csv"
    raw.write_text(raw.read_text() + "us,6\n")
    again = shop["dag"].test()
    assert again.state == "success"
    index = list(REGIONS).index("us")
    assert statuses(shop["db"], again.run_id) == {
        **{("sales.partition", i): "succeeded" if i == index else "skipped" for i in range(len(REGIONS))},
        ("sales", -1): "succeeded", ("total", -1): "succeeded"}
    assert stored(shop["store"], "shop", ["total"])["total"][0] == {"sales": 11}
