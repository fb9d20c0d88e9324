"""The example through Dagster's own CLI, as subprocesses: validate, then materialize everything."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conformance.datasets import stored
from dagster import AssetKey, DagsterInstance

from dataflows_factory import Factory
from dataflows_factory.partitions import partition_key

FLOWS = ["countries", "cities", "key_metrics", "publish"]


def _dagster(project: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    env.pop("DFF_STORE", None)
    return subprocess.run([sys.executable, "-m", "dagster", *args], cwd=project, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty DAGSTER_HOME: a real, persistent (SQLite) Dagster instance for one test."""
    folder = tmp_path / "dagster_home"
    folder.mkdir()
    (folder / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return folder


def test_definitions_validate(project: Path, home: Path) -> None:
    """`dagster definitions validate` accepts the example and creates no dataset while loading it."""
    done = _dagster(project, home, "definitions", "validate", "-f", "examples/dagster/definitions.py")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "All code locations passed validation" in done.stdout + done.stderr
    assert not (project / "examples" / "world" / "data").exists()


@pytest.mark.slow
def test_asset_materialize_all(project: Path, home: Path, world: Factory, local_reference) -> None:
    """`dagster asset materialize --select '*'` builds every dataset, equal to the local runner's,
    and the instance records each materialization with its row count."""
    done = _dagster(project, home, "asset", "materialize", "-f", "examples/dagster/definitions.py",
                    "--select", "*")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    store = project / "examples" / "world" / "data"
    reference = local_reference(world)
    assert stored(store, "world", FLOWS) == reference
    with DagsterInstance.from_config(str(home)) as instance:
        for flow in FLOWS:
            event = instance.get_latest_materialization_event(AssetKey(["world", flow]))
            assert event is not None, flow
            metadata = event.asset_materialization.metadata
            assert metadata["dagster/row_count"].value == sum(reference[flow][0].values())
            assert metadata["content_hash"].value == reference[flow][1]


SHOP = '''
from dagster import Definitions
from dataflows import Flow, load
from dataflows_factory import Factory
from dataflows_factory.partitions import partition_key
from dataflows_factory.dagster_assets import FactoryResource, build_assets
from dataflows_factory.partitions import files

factory = Factory("shop", store="data")

@factory.flow(partitions=files("raw/*.csv"))
def sales(partition):
    return Flow(load(partition, name="sales"))

defs = Definitions(assets=build_assets(factory), resources={"dff": FactoryResource()})
'''


@pytest.mark.slow
def test_asset_materialize_one_partition(tmp_path: Path, home: Path) -> None:
    """`dagster asset materialize --partition raw/eu.csv` writes that partition's part only,
    and the instance records the materialization under that partition key."""
    project = tmp_path / "shop"
    (project / "raw").mkdir(parents=True)
    (project / "definitions.py").write_text(SHOP)
    for region in ("eu", "us"):
        (project / "raw" / f"{region}.csv").write_text(f"region,amount\n{region},1\n{region},2\n")
    done = _dagster(project, home, "asset", "materialize", "-f", "definitions.py",
                    "--select", "shop/sales", "--partition", "raw/eu.csv")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    written = sorted(p.parent.name for p in (project / "data" / "shop").glob("*/datapackage.json"))
    assert written == [f"sales@{partition_key('raw/eu.csv')}"]
    with DagsterInstance.from_config(str(home)) as instance:
        sales = AssetKey(["shop", "sales"])
        assert instance.get_materialized_partitions(sales) == {"raw/eu.csv"}
        event = instance.get_latest_materialization_event(sales)
        assert event is not None and event.asset_materialization is not None
        assert event.asset_materialization.partition == "raw/eu.csv"
        assert event.asset_materialization.metadata["dagster/row_count"].value == 2
