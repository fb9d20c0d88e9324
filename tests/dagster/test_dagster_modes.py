"""Execution modes under Dagster: assets from a compiled plan, and flows grouped into one op."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conformance.datasets import Dataset, local_datasets, stored
from dagster import DagsterEventType, materialize
from dagster_helpers import checks, materializations
from shop import sales_factory

from dataflows_factory import Factory, FactoryDefinitionError, load_factory
from dataflows_factory.adapters.compiled import compile_plan, write_plan
from dataflows_factory.dagster_assets import FactoryResource, build_assets

FLOWS = ["countries", "cities", "key_metrics", "publish"]
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Dataset]:
    """The local runner's world datasets, from a private copy, once for the module."""
    folder = tmp_path_factory.mktemp("reference")
    shutil.copytree(EXAMPLES / "world", folder / "world", ignore=shutil.ignore_patterns("data"))
    return local_datasets(load_factory(str(folder / "world" / "factory.py") + ":factory"), folder / "store")


def _materialize(assets, store: Path, instance, **options):
    return materialize(assets, instance=instance, raise_on_error=False,
                       resources={"dff": FactoryResource(store=str(store))}, **options)


def _failures(result):
    return [event.step_failure_data.user_failure_data for event in result.all_events
            if event.event_type == DagsterEventType.STEP_FAILURE]


def _compiled(factory: Factory, path: Path) -> Path:
    write_plan(compile_plan(factory), path)
    return path


def test_definitions_from_a_plan_import_neither_factory_nor_dataflows(world, tmp_path) -> None:
    """build_assets(plan=...) in a fresh interpreter gives the same keys, deps and code versions,
    and leaves dataflows and the factory's module unimported."""
    plan = _compiled(world, tmp_path / "plan.json")
    code = (
        "import sys, json\n"
        "from dataflows_factory.dagster_assets import build_assets\n"
        f"assets = build_assets(plan={str(plan)!r}, group_by='tag')\n"
        "specs = {s.key.to_user_string(): s for a in assets for s in a.specs}\n"
        "print(json.dumps({'leaked': [m for m in sys.modules if m == 'dataflows' or m.startswith('_dff_')],\n"
        "  'ops': sorted(a.op.name for a in assets),\n"
        "  'deps': {k: sorted(d.asset_key.to_user_string() for d in s.deps) for k, s in specs.items()},\n"
        "  'code': {k: s.code_version for k, s in specs.items()}}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["leaked"] == []
    assert found["ops"] == ["world__metrics", "world__source"]
    assert found["deps"] == {"world/countries": [], "world/cities": [],
                             "world/key_metrics": ["world/cities", "world/countries"],
                             "world/publish": ["world/key_metrics"]}
    assert found["code"] == {f"world/{flow}": world.flows[flow].code_version for flow in FLOWS}


def test_compiled_plan_materializes_and_a_stale_plan_fails_in_one_line(world, tmp_path, instance,
                                                                       reference) -> None:
    """Per-flow assets from a compiled plan give the local runner's datasets; once the plan no
    longer matches the code, the op fails at once, without retries, saying to re-run dff compile."""
    plan = _compiled(world, tmp_path / "plan.json")
    store = tmp_path / "store"
    result = _materialize(build_assets(plan=plan), store, instance)
    assert result.success
    assert stored(store, "world", FLOWS) == reference
    found = materializations(result)
    assert found["world/cities"].tags["dagster/code_version"] == world.flows["cities"].code_version
    assert checks(result)["world/cities"].passed

    data = json.loads(plan.read_text())  # as if cities' code had changed since `dff compile`
    data["steps"][1]["code_version"], data["code_hash"] = "0" * 16, "1" * 16
    plan.write_text(json.dumps(data))
    result = _materialize(build_assets(plan=plan), store, instance, selection=["world/cities"])
    assert not result.success
    (failure,) = _failures(result)
    assert "code of flow(s) ['cities'] changed" in failure.description
    assert "re-run `dff compile" in failure.description and "\n" not in failure.description
    assert not [e for e in result.all_events if e.event_type == DagsterEventType.STEP_UP_FOR_RETRY]


def test_groups_by_tag_and_whole_factory_equal_the_local_runner(world, tmp_path, instance,
                                                                reference) -> None:
    """One op per tag group, then one op for the factory: every flow still surfaces as its own
    asset, with metadata and its check, and the datasets are the local runner's."""
    plan = _compiled(world, tmp_path / "plan.json")
    by_tag = build_assets(plan=plan, group_by="tag")
    assert {a.op.name: sorted(k.to_user_string() for k in a.keys) for a in by_tag} == {
        "world__source": ["world/cities", "world/countries"],
        "world__metrics": ["world/key_metrics", "world/publish"]}
    assert all(a.can_subset and a.op.retry_policy is None for a in by_tag)
    for mode, assets in (("tag", by_tag), ("factory", build_assets(world, group_by="factory"))):
        store = tmp_path / f"store-{mode}"
        result = _materialize(assets, store, instance)
        assert result.success, mode
        assert stored(store, "world", FLOWS) == reference, mode
        found = materializations(result)
        assert sorted(found) == sorted(f"world/{flow}" for flow in FLOWS)
        for flow in FLOWS:
            metadata = found[f"world/{flow}"].metadata
            assert metadata["content_hash"].value == reference[flow][1]
            assert found[f"world/{flow}"].tags["dagster/data_version"] == reference[flow][1]
            assert metadata["dagster/row_count"].value == sum(reference[flow][0].values())
        assert all(evaluation.passed for evaluation in checks(result).values())
        assert len(checks(result)) == len(FLOWS)


def test_a_subset_of_a_group_runs_only_those_flows(world, tmp_path, instance) -> None:
    """Selecting one asset of the whole-factory op runs that flow alone."""
    store = tmp_path / "store"
    result = _materialize(build_assets(world, group_by="factory"), store, instance,
                          selection=["world/cities"])
    assert result.success
    assert list(materializations(result)) == ["world/cities"]
    assert sorted(p.parent.name for p in (store / "world").glob("*/datapackage.json")) == ["cities"]


def test_a_failing_flow_in_a_group_is_named_and_independent_flows_materialize(fragile, instance) -> None:
    """A bad row fails 'numbers' inside group 'fragile': the failure names group, flow and
    processor; 'flaky' (independent) materializes; 'doubled' (downstream) does not run."""
    raw = fragile.root / "raw" / "numbers.csv"
    raw.write_text(raw.read_text() + "4,-40\n")
    store = Path(fragile.store().url)
    result = _materialize(build_assets(fragile, group_by="factory"), store, instance)
    assert not result.success
    assert set(materializations(result)) == {"fragile/flaky"}
    (failure,) = _failures(result)
    assert failure.description.startswith("group 'fragile': flow 'numbers', processor 'check_positive'")
    assert "negative value -40" in failure.description
    assert failure.metadata["flow"].value == "numbers"
    assert not (store / "fragile" / "doubled").exists()


def test_modes_that_cannot_run_fail_at_definition_time(world, tmp_path) -> None:
    """Partitioned flows through Pipes, and Pipes with groups, are refused when the definitions
    load, naming the flow; a partitioned flow keeps an op of its own whatever the grouping."""
    shop = sales_factory(tmp_path / "shop")
    grouped = build_assets(shop, group_by="factory")
    assert sorted(a.op.name for a in grouped) == ["shop__sales", "shop__shop"]
    with pytest.raises(FactoryDefinitionError, match="flow 'sales' is partitioned: python="):
        build_assets(shop, python=sys.executable)
    with pytest.raises(FactoryDefinitionError, match="cannot be combined with group_by"):
        build_assets(world, python=sys.executable, group_by="tag")
    with pytest.raises(TypeError, match="either a factory or a compiled plan"):
        build_assets()
    assets = build_assets(shop, group_by=lambda step: None if step.partitioned else "rest")
    assert sorted(a.op.name for a in assets) == ["shop__rest", "shop__sales"]
