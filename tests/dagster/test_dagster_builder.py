"""The compiled asset graph: keys, deps, groups, versions, retries, checks, translator, selection."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import AllPartitionMapping, AssetKey, AssetSpec, Definitions

from dataflows_factory import Factory, FactoryDefinitionError, load_factory
from dataflows_factory.dagster_assets import (
    CHECK_NAME,
    DagsterFactoryTranslator,
    FactoryResource,
    FlowAssetData,
    build_asset_specs,
    build_assets,
    dagster_name,
    factory_assets,
)

WORLD = ["world/countries", "world/cities", "world/key_metrics", "world/publish"]


def _by_key(assets):
    return {key.to_user_string(): (asset, spec) for asset in assets
            for key, spec in asset.specs_by_key.items()}


def test_one_asset_per_flow_with_plan_deps(world: Factory) -> None:
    """Each flow is one asset keyed factory/flow, grouped by factory, with the plan's edges as deps."""
    assets = build_assets(world)
    found = _by_key(assets)
    assert list(found) == WORLD
    plan = world.plan()
    edges = {(f"world/{up}", f"world/{down}") for up, down in plan.edges()}
    deps = {(dep.asset_key.to_user_string(), name) for name, (_, spec) in found.items() for dep in spec.deps}
    assert deps == edges == {("world/countries", "world/key_metrics"), ("world/cities", "world/key_metrics"),
                             ("world/key_metrics", "world/publish")}
    for name, (asset, spec) in found.items():
        flow = world.flows[name.split("/")[1]]
        assert spec.group_name == "world"
        assert spec.description == flow.description
        assert spec.code_version == flow.code_version
        assert asset.op.name == f"world__{flow.name}"
        assert "dataflows" in spec.kinds
        assert {tag for tag in spec.tags if not tag.startswith("dagster/kind")} == set(flow.tags)
        assert spec.metadata["dagster/code_references"].code_references[0].file_path.endswith("factory.py")


def test_retry_policy_per_flow(world: Factory) -> None:
    """Each op carries its own flow's retries as a Dagster RetryPolicy."""
    policies = {asset.op.name: asset.op.retry_policy for asset in build_assets(world)}
    assert policies["world__cities"].max_retries == 2
    assert {name for name, policy in policies.items() if policy is not None} == {"world__cities"}


def test_checks_one_per_asset_and_blocking(world: Factory) -> None:
    """Every asset has a blocking dataset_valid check (or a non-blocking one on request)."""
    for blocking in (True, False):
        for asset in build_assets(world, blocking_checks=blocking):
            (spec,) = asset.check_specs
            assert spec.name == CHECK_NAME
            assert spec.asset_key in asset.keys
            assert spec.blocking is blocking


def test_translator_override_moves_keys_and_deps(world: Factory) -> None:
    """A translator's new keys and owners apply, and downstream deps follow the new keys."""

    class Warehouse(DagsterFactoryTranslator):
        def get_asset_spec(self, data: FlowAssetData) -> AssetSpec:
            spec = super().get_asset_spec(data)
            return spec.replace_attributes(key=spec.key.with_prefix("warehouse"), owners=["team:data"])

    found = _by_key(build_assets(world, translator=Warehouse()))
    assert list(found) == ["warehouse/" + name for name in WORLD]
    metrics = found["warehouse/world/key_metrics"][1]
    assert {dep.asset_key for dep in metrics.deps} == {
        AssetKey(["warehouse", "world", "countries"]), AssetKey(["warehouse", "world", "cities"])}
    assert all(spec.owners == ["team:data"] for _, spec in found.values())
    Definitions.validate_loadable(
        Definitions(assets=build_assets(world, translator=Warehouse()), resources={"dff": FactoryResource()}))


def test_translator_duplicate_keys_fail_naming_the_flows(world: Factory) -> None:
    """Two flows translated to one key fail at definition time, naming both flows."""

    class OneKey(DagsterFactoryTranslator):
        def get_asset_spec(self, data: FlowAssetData) -> AssetSpec:
            return super().get_asset_spec(data).replace_attributes(key="same")

    with pytest.raises(FactoryDefinitionError, match="'countries' and 'cities'"):
        build_assets(world, translator=OneKey())


def test_selection_keeps_deps_outside_it(world: Factory) -> None:
    """A selection builds only its flows; deps on unselected flows remain as external deps."""
    found = _by_key(build_assets(world, select="key_metrics+"))
    assert list(found) == ["world/key_metrics", "world/publish"]
    assert {dep.asset_key.to_user_string() for dep in found["world/key_metrics"][1].deps} == {
        "world/countries", "world/cities"}
    specs = build_asset_specs(world, select="+key_metrics")
    assert [spec.key.to_user_string() for spec in specs] == WORLD[:3]


def test_decorator_is_one_subsettable_op(world: Factory) -> None:
    """@factory_assets makes one op over all flows, subsettable, retrying as its most-retried flow."""

    @factory_assets(factory=world)
    def world_assets(context, dff: FactoryResource):
        yield from dff.run(context)

    assert {key.to_user_string() for key in world_assets.keys} == set(WORLD)
    assert world_assets.can_subset
    assert world_assets.op.name == "world_assets"
    assert world_assets.op.retry_policy.max_retries == 2
    assert len(world_assets.check_specs_by_output_name) == 4


def test_building_reads_and_writes_no_data(tmp_path: Path) -> None:
    """Building assets for a factory with no inputs and no store touches no file."""
    source = tmp_path / "empty" / "factory.py"
    source.parent.mkdir()
    source.write_text(
        "from dataflows import Flow, load\nfrom dataflows_factory import Factory\n"
        "factory = Factory('empty', store='data')\n"
        "@factory.flow()\ndef missing():\n    return Flow(load('raw/does-not-exist.csv'))\n")
    before = sorted(p.name for p in source.parent.iterdir())
    assets = build_assets(load_factory(str(source)))
    Definitions(assets=assets, resources={"dff": FactoryResource()}).get_repository_def()
    assert sorted(p.name for p in source.parent.iterdir() if p.name != "__pycache__") == before


def test_dagster_name_is_deterministic_and_safe() -> None:
    """Names are kept when safe, sanitized otherwise, and cut with a stable hash when long."""
    assert dagster_name("key_metrics") == "key_metrics"
    assert dagster_name("needs review!") == "needs_review_"
    long = "x" * 100
    assert dagster_name(long) == dagster_name(long)
    assert len(dagster_name(long)) == 63
    assert dagster_name(long) != dagster_name("x" * 99)


def _parts_factory(tmp_path: Path, values: list[str]) -> Factory:
    source = tmp_path / "parts" / "factory.py"
    source.parent.mkdir(parents=True)
    source.write_text(
        "from dataflows import Flow\nfrom dataflows_factory import Factory\n"
        "factory = Factory('parts', store='data')\n"
        f"@factory.flow(partitions={values!r})\ndef sales(partition):\n"
        "    return Flow([{'region': partition}])\n"
        "@factory.flow()\ndef total(sales):\n    return Flow(sales)\n")
    return load_factory(str(source))


def test_partitioned_flow_is_a_statically_partitioned_asset(tmp_path: Path) -> None:
    """A partitioned flow's asset has one static partition per value; its downstream depends on
    all of them through Dagster's default mapping, and the definitions load."""
    factory = _parts_factory(tmp_path, ["eu", "us", "2026-01-01", "raw/apac.csv"])
    found = _by_key(build_assets(factory))
    sales, total = found["parts/sales"][1], found["parts/total"][1]
    assert sales.partitions_def.get_partition_keys() == ["eu", "us", "2026-01-01", "raw/apac.csv"]
    assert total.partitions_def is None
    (dep,) = total.deps
    assert (dep.asset_key.to_user_string(), dep.partition_mapping) == ("parts/sales", None)
    defs = Definitions(assets=build_assets(factory), resources={"dff": FactoryResource()})
    Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    mapping = graph.get_partition_mapping(AssetKey(["parts", "total"]), AssetKey(["parts", "sales"]))
    assert isinstance(mapping, AllPartitionMapping)


def test_values_dagster_rejects_use_the_store_keys(tmp_path: Path) -> None:
    """When one value is no valid Dagster key, all the flow's keys are the core's store keys."""
    values = ["a, b", "c|d", "x...y", "plain"]
    factory = _parts_factory(tmp_path, values)
    keys = _by_key(build_assets(factory))["parts/sales"][1].partitions_def.get_partition_keys()
    step = factory.plan().step("sales")
    assert keys[:2] + keys[3:] == [step.partition_keys[value] for value in ("a, b", "c|d", "plain")]
    assert keys[2].startswith("x___y-")  # the core keeps "x...y", which Dagster refuses
    assert len(set(keys)) == 4
    again = _by_key(build_assets(_parts_factory(tmp_path / "again", values)))["parts/sales"][1]
    assert again.partitions_def.get_partition_keys() == keys


def test_one_op_refuses_mixed_partitioning(tmp_path: Path) -> None:
    """@factory_assets over a partitioned and an unpartitioned flow fails naming both groups."""
    factory = _parts_factory(tmp_path, ["eu", "us"])
    with pytest.raises(FactoryDefinitionError, match=r"\['sales'\] vs \['total'\]"):
        factory_assets(factory=factory)
    assert factory_assets(factory=factory, select="sales")  # one partitioning: fine


def test_translator_dropping_partitions_is_refused(tmp_path: Path) -> None:
    """A translator that removes a partitioned flow's partitions_def fails at definition time."""

    class Flat(DagsterFactoryTranslator):
        def get_asset_spec(self, data: FlowAssetData) -> AssetSpec:
            return super().get_asset_spec(data).replace_attributes(partitions_def=None)

    with pytest.raises(FactoryDefinitionError, match="flow 'sales' is partitioned"):
        build_assets(_parts_factory(tmp_path, ["eu", "us"]), translator=Flat())
