"""Prefect with a DaskTaskRunner: the factory's tasks run on the workers of a real Dask cluster."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conformance.datasets import published
from distributed import LocalCluster
from prefect_dask import DaskTaskRunner

from dataflows_factory import load_factory, run
from dataflows_factory.errors import FactoryRefError
from dataflows_factory.prefect_blocks import build_flow

ROOT = Path(__file__).resolve().parents[2]
REGIONS = ["r1", "r2", "r3", "r4", "r5", "r6"]
PARTS = [f"sales[raw/{region}.csv]" for region in REGIONS]

# One partition per region file; each part notes which Dask worker ran it (the worker's
# own address, from distributed.get_worker()), next to the store, not in the data.
FACTORY = '''
from pathlib import Path

from dataflows import Flow, load

from dataflows_factory import Factory
from dataflows_factory.partitions import files

factory = Factory("regions", store="data")
HERE = Path(__file__).parent


def noting_the_worker(partition):
    def note(rows):
        try:
            from distributed import get_worker

            address = get_worker().address
        except (ImportError, ValueError):  # not on a Dask worker
            address = "local"
        (HERE / "ran_on").mkdir(exist_ok=True)
        (HERE / "ran_on" / Path(partition).stem).write_text(address)
        yield from rows

    return note


@factory.flow(partitions=files("raw/*.csv"))
def sales(partition):
    return Flow(load(partition, name="sales"), noting_the_worker(partition))


@factory.flow()
def total(sales):
    return Flow(sales)
'''


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    """Two single-threaded Dask worker processes on loopback, shared by this module's tests."""
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as local_cluster:
        yield local_cluster


@pytest.fixture
def regions_file(tmp_path: Path) -> Path:
    """The regions factory and its six input files, in a private folder."""
    (tmp_path / "raw").mkdir()
    for number, region in enumerate(REGIONS, start=1):
        rows = "".join(f"{region},{number * 10 + i}\n" for i in range(number))
        (tmp_path / "raw" / f"{region}.csv").write_text("region,amount\n" + rows)
    path = tmp_path / "regions.py"
    path.write_text(FACTORY)
    return path


def test_partitioned_factory_runs_on_both_dask_workers_like_the_local_runner(
        regions_file: Path, tmp_path: Path, cluster: LocalCluster, api: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Six partitions spread over both workers, by their own records; datasets equal the local run's."""
    with monkeypatch.context() as local_only:
        local_only.setenv("DFF_WORKERS", "thread")  # the same datasets, without starting workers
        local = run(str(regions_file), store=tmp_path / "local", show_progress=False)
    assert local.ok
    for note in (tmp_path / "ran_on").iterdir():
        note.unlink()
    on_dask = build_flow(str(regions_file), task_runner=DaskTaskRunner(address=cluster.scheduler_address))

    state = on_dask(return_state=True)

    assert state.is_completed()
    results = state.result()
    assert list(results) == list(local.results) == [*PARTS, "sales", "total"]
    assert {unit: (r["rows"], r["content_hash"]) for unit, r in results.items()} == \
        {unit: (r.rows, r.content_hash) for unit, r in local.results.items()}
    assert published(tmp_path / "data", "regions") == published(tmp_path / "local", "regions")
    assert len(published(tmp_path / "data", "regions")) == len(PARTS) + 2  # parts, merge, total
    ran_on = {note.name: note.read_text() for note in (tmp_path / "ran_on").iterdir()}
    assert sorted(ran_on) == REGIONS
    assert set(ran_on.values()) == set(cluster.scheduler_info["workers"])  # both, and only them
    runs = api.task_runs(state)
    assert sorted(runs) == sorted(results)
    assert {run.state.name for run in runs.values()} == {"Completed"}


def test_a_factory_without_import_reference_is_refused_by_name(tmp_path: Path, cluster: LocalCluster) -> None:
    """Dask workers import the factory: one built inside a function fails with a line naming it."""
    from shop import sales_factory

    runner = DaskTaskRunner(address=cluster.scheduler_address)
    on_dask = build_flow(sales_factory(tmp_path), task_runner=runner)

    state = on_dask(return_state=True)

    assert state.is_failed()
    with pytest.raises(FactoryRefError, match="factory 'shop' has no import reference, and DaskTaskRunner"):
        state.result()


def test_the_world_dask_example_runs_on_the_cluster_it_is_pointed_at(
        tmp_path: Path, cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch) -> None:
    """examples/prefect/world_dask.py with DFF_DASK_ADDRESS: the local runner's datasets."""
    monkeypatch.setenv("DFF_DASK_ADDRESS", cluster.scheduler_address)
    monkeypatch.setenv("DFF_STORE", str(tmp_path / "dask"))  # not the example's own folder
    path = ROOT / "examples" / "prefect" / "world_dask.py"
    spec = importlib.util.spec_from_file_location("world_dask", path)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "world_dask", example)
    spec.loader.exec_module(example)
    assert example.world_flow.task_runner.address == cluster.scheduler_address

    state = example.world_flow(return_state=True)

    assert state.is_completed()
    local = run(load_factory(str(ROOT / "examples" / "world" / "factory.py")), store=tmp_path / "local",
                jobs=1, show_progress=False)
    assert published(tmp_path / "dask", "world") == published(tmp_path / "local", "world")
    assert {name: r["content_hash"] for name, r in state.result().items()} == \
        {name: r.content_hash for name, r in local.results.items()}
