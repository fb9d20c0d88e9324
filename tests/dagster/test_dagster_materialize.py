"""In-process materialization: datasets equal the local runner's, metadata, checks, data versions."""

from __future__ import annotations

from pathlib import Path

import pytest
from conformance.datasets import stored
from dagster import AssetSpec, DagsterInstance, EnvVar, materialize
from dagster._core.definitions.data_version import StaleStatus
from dagster._utils.test.data_versions import get_stale_status_resolver
from dagster_helpers import checks, key, materializations

from dataflows_factory import Factory
from dataflows_factory.dagster_assets import (
    DagsterFactoryTranslator,
    FactoryResource,
    FlowAssetData,
    build_assets,
    factory_assets,
)

FLOWS = ["countries", "cities", "key_metrics", "publish"]


def _materialize(factory: Factory, store: Path, instance: DagsterInstance, assets=None, **options):
    return materialize(assets or build_assets(factory), instance=instance,
                       resources={"dff": FactoryResource(store=str(store))}, **options)


def test_datasets_equal_local_runner_with_metadata_and_checks(world, tmp_path, instance, local_reference):
    """All assets materialize to the local runner's datasets; metadata and checks say so."""
    store = tmp_path / "dagster-store"
    result = _materialize(world, store, instance)
    assert result.success
    reference = local_reference(world)
    found = materializations(result)
    assert sorted(found) == sorted(f"world/{flow}" for flow in FLOWS)
    for flow in FLOWS:
        rows, content_hash = stored(store, "world", [flow])[flow]
        assert (rows, content_hash) == reference[flow]
        metadata = found[f"world/{flow}"].metadata
        assert metadata["dagster/row_count"].value == sum(rows.values())
        for resource, count in rows.items():
            assert metadata[f"rows/{resource}"].value == count
            schema = metadata[f"schema/{resource}"].value
            assert [column.name for column in schema.columns] == [
                column.name for column in metadata["dagster/column_schema"].value.columns]
            preview = metadata[f"preview/{resource}"].value
            assert len(preview.records) == min(5, count)
        assert metadata["dataset_uri"].value == str(store / "world" / flow)
        assert metadata["content_hash"].value == content_hash
        assert metadata["bytes"].value > 0
        assert metadata["status"].value == "succeeded"
        assert found[f"world/{flow}"].tags["dagster/data_version"] == content_hash
        assert found[f"world/{flow}"].tags["dagster/code_version"] == world.flows[flow].code_version
    schema = found["world/key_metrics"].metadata["dagster/column_schema"].value
    columns = {column.name: column.type for column in schema.columns}
    assert columns["urban_share"] == "number"
    evaluations = checks(result)
    assert sorted(evaluations) == sorted(found)
    assert all(evaluation.passed for evaluation in evaluations.values())
    assert evaluations["world/cities"].metadata["rows_checked"].value == reference["cities"][0]["cities"]


def test_unchanged_rerun_is_skipped_and_keeps_data_versions(world, tmp_path, instance):
    """A second run skips every flow, reports the same data versions, and nothing turns stale."""
    store = tmp_path / "store"
    assets = build_assets(world)
    first = materializations(_materialize(world, store, instance, assets))
    second = materializations(_materialize(world, store, instance, assets))
    for name, event in second.items():
        assert event.metadata["status"].value == "skipped"
        assert event.tags["dagster/data_version"] == first[name].tags["dagster/data_version"]
    resolver = get_stale_status_resolver(instance, assets)
    assert {resolver.get_status(key(f"world/{flow}")) for flow in FLOWS} == {StaleStatus.FRESH}


def test_changed_input_makes_downstream_stale(world, tmp_path, instance):
    """A source rebuilt from a changed input has a new data version; Dagster marks its downstream stale."""
    store = tmp_path / "store"
    assets = build_assets(world)
    _materialize(world, store, instance, assets)
    raw = world.root / "raw" / "countries.csv"
    raw.write_text(raw.read_text().rstrip("\n") + "\nZZ,Zedland,Europe,1000,10\n")
    result = _materialize(world, store, instance, assets, selection=["world/countries"])
    assert materializations(result)["world/countries"].metadata["status"].value == "succeeded"
    resolver = get_stale_status_resolver(instance, assets)
    assert resolver.get_status(key("world/key_metrics")) == StaleStatus.STALE
    assert resolver.get_status(key("world/cities")) == StaleStatus.FRESH


def test_code_version_change_makes_asset_stale(world, tmp_path, instance):
    """Definitions whose code_version differs from the materialized one show the asset as stale."""
    store = tmp_path / "store"
    _materialize(world, store, instance)

    class Edited(DagsterFactoryTranslator):
        def get_asset_spec(self, data: FlowAssetData) -> AssetSpec:
            spec = super().get_asset_spec(data)
            return spec.replace_attributes(code_version="edited") if data.step.name == "cities" else spec

    resolver = get_stale_status_resolver(instance, build_assets(world, translator=Edited()))
    assert resolver.get_status(key("world/cities")) == StaleStatus.STALE
    assert resolver.get_status(key("world/countries")) == StaleStatus.FRESH


def test_check_fails_on_broken_dataset_and_blocks_downstream(world, tmp_path, instance):
    """A dataset corrupted in the store fails its check, and its downstream is not materialized."""
    store = tmp_path / "store"
    _materialize(world, store, instance)
    data = store / "world" / "countries" / "countries.csv"
    # Brazil's population, same length in letters: the file keeps its size, so the flow is
    # skipped as unchanged and only the check can notice.
    data.write_bytes(data.read_bytes().replace(b",216422446,", b",21642244x,"))
    result = _materialize(world, store, instance, raise_on_error=False)
    assert not result.success
    evaluation = checks(result)["world/countries"]
    assert not evaluation.passed
    problems = evaluation.metadata["problems"].value
    assert any("differs from the recorded hash" in problem for problem in problems)
    assert any("row 1" in problem for problem in problems)
    assert checks(result)["world/cities"].passed
    assert "world/key_metrics" not in materializations(result)
    assert "world/publish" not in materializations(result)


def test_decorator_runs_a_selected_subset(world, tmp_path, instance):
    """With @factory_assets, selecting one asset runs only that flow."""

    @factory_assets(factory=world)
    def world_assets(context, dff: FactoryResource):
        yield from dff.run(context)

    store = tmp_path / "store"
    result = _materialize(world, store, instance, [world_assets], selection=["world/cities"])
    assert result.success
    assert list(materializations(result)) == ["world/cities"]
    assert list(checks(result)) == ["world/cities"]
    assert sorted(p.parent.name for p in (store / "world").glob("*/datapackage.json")) == ["cities"]


@pytest.mark.slow
def test_decorator_all_flows_equal_local_runner(world, tmp_path, instance, local_reference):
    """@factory_assets over the whole factory produces the local runner's datasets, in order."""

    @factory_assets(factory=world)
    def world_assets(context, dff: FactoryResource):
        yield from dff.run(context)

    store = tmp_path / "store"
    result = _materialize(world, store, instance, [world_assets])
    assert result.success
    reference = local_reference(world)
    assert stored(store, "world", FLOWS) == reference


def test_resource_store_from_env_var(world, tmp_path, instance, monkeypatch):
    """FactoryResource(store=EnvVar(...)) writes where the variable points at run time."""
    target = tmp_path / "from-env"
    monkeypatch.setenv("WORLD_STORE", str(target))
    result = materialize(build_assets(world, select="countries"), instance=instance,
                         resources={"dff": FactoryResource(store=EnvVar("WORLD_STORE"))})
    assert result.success
    assert materializations(result)["world/countries"].metadata["dataset_uri"].value == str(
        target / "world" / "countries")
    assert stored(target, "world", ["countries"])["countries"][0] == {"countries": 15}
