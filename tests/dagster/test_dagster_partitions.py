"""Partitioned flows as partitioned Dagster assets: one materialization per partition, then the
merge, read by the unpartitioned downstream asset; only changed partitions run again."""

from __future__ import annotations

from pathlib import Path

import pytest
from conformance.datasets import stored
from dagster import DagsterEventType, DagsterInstance, materialize
from dagster._core.definitions.data_version import StaleStatus
from dagster._utils.test.data_versions import get_stale_status_resolver
from dagster_helpers import key, materializations
from dataflows import Flow
from shop import sales_factory

from dataflows_factory import Factory
from dataflows_factory.dagster_assets import FactoryResource, build_assets
from dataflows_factory.partitions import dates, partition_key

PARTS = ["raw/apac.csv", "raw/eu.csv", "raw/us.csv"]


def _sales(root: Path) -> Factory:
    return sales_factory(root)


@pytest.fixture
def shop(tmp_path: Path) -> Factory:
    """The sales factory in a private folder."""
    return _sales(tmp_path / "shop")


def _run(assets, store: Path, instance: DagsterInstance, selection: str, partition: str | None = None):
    return materialize(assets, instance=instance, selection=[selection], partition_key=partition,
                       resources={"dff": FactoryResource(store=str(store))}, raise_on_error=False)


def _partitions(assets, store: Path, instance: DagsterInstance, keys=PARTS) -> dict[str, dict]:
    """Materialize shop/sales one partition per run; the metadata of each partition's event."""
    found = {}
    for partition in keys:
        result = _run(assets, store, instance, "shop/sales", partition)
        assert result.success, partition
        (event,) = result.get_asset_materialization_events()
        assert event.partition == partition
        found[partition] = {name: value.value for name, value in
                            event.step_materialization_data.materialization.metadata.items()}
    return found


def test_partitions_then_downstream_equal_the_local_runner(shop, tmp_path, instance, local_reference):
    """Each partition materializes its part (rows, partition, URI of the part); the last one
    merges; the downstream asset reads the merge; every dataset equals the local runner's."""
    store = tmp_path / "dagster-store"
    assets = build_assets(shop)
    events = _partitions(assets, store, instance)
    rows = {"raw/apac.csv": 3, "raw/eu.csv": 2, "raw/us.csv": 1}
    for partition, metadata in events.items():
        assert metadata["partition"] == partition
        assert metadata["dagster/row_count"] == rows[partition]
        assert metadata["status"] == "succeeded"
        assert metadata["dataset_uri"] == str(store / "shop" / f"sales@{partition_key(partition)}")
    assert [events[p]["merge/status"] for p in PARTS] == [
        "waiting for 2 partition(s)", "waiting for 1 partition(s)", "succeeded"]
    assert events["raw/eu.csv"]["merge/missing"] == ["raw/us.csv"]
    assert events["raw/us.csv"]["merge/row_count"] == 6
    assert instance.get_materialized_partitions(key("shop/sales")) == set(PARTS)

    downstream = _run(assets, store, instance, "shop/total")
    assert downstream.success
    assert materializations(downstream)["shop/total"].metadata["dagster/row_count"].value == 6

    reference = local_reference(shop)
    found = stored(store, "shop", ["sales", "total", *(f"sales@{partition_key(p)}" for p in PARTS)])
    assert found["sales"] == reference["sales"]
    assert found["total"] == reference["total"]
    for partition in PARTS:
        assert found[f"sales@{partition_key(partition)}"] == reference[f"sales[{partition}]"]


def test_changed_input_reruns_only_its_partition(shop, tmp_path, instance):
    """After an input file changes, only its partition runs again (the others report skipped),
    its data version changes, and the merge and downstream pick the change up."""
    store = tmp_path / "store"
    assets = build_assets(shop)
    first = _partitions(assets, store, instance)
    assert _run(assets, store, instance, "shop/total").success
    assert get_stale_status_resolver(instance, assets).get_status(key("shop/total")) == StaleStatus.FRESH
    (shop.root / "raw" / "us.csv").write_text("region,amount\nus,5\nus,6\n")

    again = _partitions(assets, store, instance)
    assert {p: m["status"] for p, m in again.items()} == {
        "raw/apac.csv": "skipped", "raw/eu.csv": "skipped", "raw/us.csv": "succeeded"}
    assert [again[p]["merge/status"] for p in PARTS] == ["skipped", "skipped", "succeeded"]
    assert again["raw/us.csv"]["dagster/row_count"] == 2
    assert again["raw/us.csv"]["content_hash"] != first["raw/us.csv"]["content_hash"]
    assert again["raw/eu.csv"]["content_hash"] == first["raw/eu.csv"]["content_hash"]
    assert get_stale_status_resolver(instance, assets).get_status(key("shop/total")) == StaleStatus.STALE
    downstream = _run(assets, store, instance, "shop/total")
    assert materializations(downstream)["shop/total"].metadata["dagster/row_count"].value == 7
    assert stored(store, "shop", ["total"])["total"][0] == {"sales": 7}


def test_downstream_in_a_partition_run_needs_every_partition(shop, tmp_path, instance):
    """Run with one partition and the downstream asset: the partition lands, the downstream fails
    naming the partition that was never produced, and no merged dataset is invented."""
    store = tmp_path / "store"
    result = materialize(build_assets(shop), instance=instance, partition_key="raw/eu.csv",
                         resources={"dff": FactoryResource(store=str(store))}, raise_on_error=False)
    assert not result.success
    assert list(materializations(result)) == ["shop/sales"]
    (failure,) = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE]
    assert failure.step_key == "shop__total"
    assert "partition 'raw/apac.csv' has not been produced" in \
        failure.step_failure_data.user_failure_data.description
    assert not (store / "shop" / "sales").exists()


def test_failing_partition_fails_alone_naming_flow_and_processor(tmp_path, instance):
    """One bad partition fails its own materialization with flow, processor and partition named;
    the other partitions materialize, and the merge waits for the failed one."""
    factory = Factory("days", store=tmp_path / "data", root=tmp_path)

    def refuse_the_second(row):
        if row["day"] == "2026-01-02":
            raise ValueError("no data on the 2nd")

    @factory.flow(partitions=dates("2026-01-01", "2026-01-03"))
    def daily(partition):
        return Flow([{"day": partition}], refuse_the_second)

    store = tmp_path / "store"
    assets = build_assets(factory)
    outcome = {day: _run(assets, store, instance, "days/daily", day)
               for day in ("2026-01-01", "2026-01-02", "2026-01-03")}
    assert [r.success for r in outcome.values()] == [True, False, True]
    (failure,) = [e for e in outcome["2026-01-02"].all_events
                  if e.event_type == DagsterEventType.STEP_FAILURE]
    data = failure.step_failure_data.user_failure_data
    for named in ("flow 'daily'", "processor 'refuse_the_second'", "partition '2026-01-02'",
                  "no data on the 2nd"):
        assert data.description.count(named) == 1, (named, data.description)
    assert {name: data.metadata[name].value for name in ("flow", "processor", "partition")} == {
        "flow": "daily", "processor": "refuse_the_second", "partition": "2026-01-02"}
    assert instance.get_materialized_partitions(key("days/daily")) == {"2026-01-01", "2026-01-03"}
    last = materializations(outcome["2026-01-03"])["days/daily"].metadata
    assert last["merge/missing"].value == ["2026-01-02"]
    assert not (store / "days" / "daily").exists()
