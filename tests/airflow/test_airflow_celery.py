"""A partitioned factory runs on CeleryExecutor across two workers that share only an S3 store.

Scheduler, dag-processor and api-server run with CeleryExecutor (broker: the machine's
Redis; result backend: a fresh PostgreSQL database); two ``airflow celery worker``
processes, each in its own folder with its own copy of the DAG bundle and its own host
name, execute the tasks. The datasets are read back from the S3 server and compared with
the local runner's.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery_deployment import (
    DAG_SOURCE,
    SECRET,
    WORKERS,
    celery_deployment,
    hostnames,
    leaks,
    s3_server,
    s3_store,
)
from conformance.datasets import stored

from dataflows_factory import load_factory
from dataflows_factory.partitions import partition_key
from dataflows_factory.runner import run

DAG_ID = "celery_fleet"
STORE = "s3://lake/celery-test"
PARTITIONS = [f"depot-{n}" for n in range(8)]

FLEET = '''\
from dataflows import Flow, load, set_type

from dataflows_factory import Factory

factory = Factory("fleet")


@factory.flow(partitions={partitions!r}, retries=1)
def trips(partition):
    return Flow(load(f"raw/{{partition}}.csv", name="trips"), set_type("km", type="number"))


@factory.flow()
def summary(trips):
    return Flow(trips)
'''


def write_fleet(project: Path) -> Path:
    """The fleet factory: eight partitions of a few thousand rows each."""
    (project / "raw").mkdir(parents=True)
    for n, depot in enumerate(PARTITIONS):
        rows = "".join(f"{depot},{i},{(i * 7 + n) % 100}.5\n" for i in range(2000 + 100 * n))
        (project / "raw" / f"{depot}.csv").write_text("depot,trip,km\n" + rows)
    (project / "factory.py").write_text(FLEET.format(partitions=PARTITIONS))
    return project / "factory.py"


def flows() -> list[str]:
    return [f"trips@{partition_key(p)}" for p in PARTITIONS] + ["trips", "summary"]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, airflow_db: str) -> Iterator[dict[str, Any]]:
    """Run the fleet DAG once on the Celery deployment and keep what the tests look at."""
    root = tmp_path_factory.mktemp("celery")
    bundle = root / "bundle"
    factory_file = write_fleet(bundle / "fleet")
    (bundle / f"{DAG_ID}.py").write_text(DAG_SOURCE.format(project="fleet", dag_id=DAG_ID, store=STORE))
    home = Path(os.environ["AIRFLOW_HOME"])
    with s3_server() as endpoint, celery_deployment(home, airflow_db, bundle, endpoint, root) as cluster:
        cluster.wait_for_api()
        cluster.wait_for_dag(DAG_ID)
        run_id = cluster.trigger(DAG_ID)
        state = cluster.wait_for_run(DAG_ID, run_id, timeout=240)
        yield {"cluster": cluster, "run_id": run_id, "state": state, "root": root,
               "factory": factory_file, "store": s3_store(STORE, endpoint),
               "tasks": cluster.task_states(DAG_ID, run_id), "hosts": hostnames(cluster, DAG_ID, run_id)}


def test_the_run_succeeds_with_a_task_per_partition(fleet: dict[str, Any]) -> None:
    """Every mapped partition, the merge and the downstream flow succeed on the first try."""
    assert fleet["state"] == "success", fleet["tasks"]
    rows = fleet["cluster"].query("SELECT map_index, rendered_map_index, state FROM task_instance "
                                  "WHERE dag_id = %s AND run_id = %s AND task_id = 'trips.partition'",
                                  (DAG_ID, fleet["run_id"]))
    assert sorted(rows) == [(i, p, "success") for i, p in enumerate(PARTITIONS)]


def test_both_workers_executed_tasks(fleet: dict[str, Any]) -> None:
    """Task instances record both workers' host names: the work was spread over two processes."""
    hosts = fleet["hosts"]
    assert set(hosts) == set(WORKERS), hosts
    assert sum(hosts.values()) == len(PARTITIONS) + 2
    for name in WORKERS:  # and each wrote its task logs in its own folder
        assert list((fleet["root"] / name / "logs").rglob("*.log")), name


def test_datasets_in_s3_equal_the_local_runners(fleet: dict[str, Any], tmp_path: Path) -> None:
    """Parts, merged dataset and downstream dataset in S3 match the local runner's rows and hashes."""
    project = tmp_path / "fleet"
    shutil.copytree(fleet["factory"].parent, project)
    run(load_factory(str(project / "factory.py")), store=tmp_path / "local", show_progress=False, jobs=2)
    expected = stored(tmp_path / "local", "fleet", flows())
    assert stored(fleet["store"], "fleet", flows()) == expected
    assert expected["summary"][0] == {"trips": sum(2000 + 100 * n for n in range(len(PARTITIONS)))}


def test_credentials_stay_out_of_logs_and_xcom(fleet: dict[str, Any]) -> None:
    """The S3 secret given to the workers appears in no log, no worker file and no XCom."""
    home = Path(os.environ["AIRFLOW_HOME"])
    assert leaks(fleet["root"]) == [] and leaks(home / "logs") == []
    assert [p for p in home.glob("*.out") if SECRET.encode() in p.read_bytes()] == []
    values = fleet["cluster"].query("SELECT value::text FROM xcom WHERE dag_id = %s", (DAG_ID,))
    assert values and not any(SECRET in value for (value,) in values)
