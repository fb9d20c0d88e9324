"""Execution modes on Prefect: compiled plans, and groups of flows as one task run each."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterTaskRunId
from shop import sales_factory

from dataflows_factory import load_factory, run
from dataflows_factory.adapters.compiled import compile_plan, write_plan
from dataflows_factory.adapters.groups import group_plan
from dataflows_factory.adapters.plan import StepPlan
from dataflows_factory.errors import FactoryDefinitionError, FactoryRefError, SelectionError
from dataflows_factory.prefect_blocks import (
    FactoryRunError,
    PrefectTranslator,
    artifact_key,
    build_flow,
    run_factory,
)
from dataflows_factory.prefect_blocks._groups import make_group_task, task_units

ROOT = Path(__file__).resolve().parents[2]
NAMES = ["countries", "cities", "key_metrics", "publish"]

# The world factory, whose cities flow rejects a city that the test adds.
FRAGILE = '''
from dataflows import Flow, load

from dataflows_factory import Factory

factory = Factory("fragile", store="data")


@factory.flow(tags=["source"])
def countries():
    return Flow(load("raw/countries.csv", name="countries"))


def check_city(row):
    if row["name"] == "Eldorado":
        raise ValueError("Eldorado is not a real city")


@factory.flow(tags=["source"])
def cities():
    return Flow(load("raw/cities.csv", name="cities"), check_city)


@factory.flow()
def key_metrics(countries, cities):
    return Flow(countries, cities)


@factory.flow(after=["key_metrics"])
def publish():
    return Flow(load("raw/sources.csv", name="sources"))
'''


def _sources(step: StepPlan) -> str | None:
    """A grouping function: the source flows together, every other flow on its own."""
    return "sources" if "source" in step.tags else None


def _artifacts(task_run_id: Any) -> dict[str, Any]:
    """The keyed artifacts a task run published, by key, their data decoded."""
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(
            task_run_id=ArtifactFilterTaskRunId(any_=[task_run_id])))
    return {a.key: a.data if not isinstance(a.data, str) or a.type != "table" else json.loads(a.data)
            for a in found if a.key}


def test_groups_become_units_that_wait_for_the_groups_they_read(world_file: Path, tmp_path: Path) -> None:
    """Each grouping gives its units and deps; a group's task has its flows' tags and no retries."""
    plan = load_factory(str(world_file)).plan()

    def deps(by: Any) -> dict[str, tuple[str, ...]]:
        units, _grouped = task_units(plan, group_plan(plan, by))
        return {unit.id: unit.deps for unit in units}

    assert deps("flow") == {"countries": (), "cities": (), "key_metrics": ("countries", "cities"),
                            "publish": ("key_metrics",)}
    assert deps("tag") == {"source": (), "metrics": ("source",)}
    assert deps("factory") == {"world": ()}
    assert deps(_sources) == {"sources": (), "key_metrics": ("sources",), "publish": ("key_metrics",)}
    # A group of one flow stays that flow's own units, partitions and merge included.
    shop = sales_factory(tmp_path / "shop").plan()
    totals = group_plan(shop, lambda step: "totals" if step.name == "total" else None)
    units, grouped = task_units(shop, totals)
    assert grouped == {}
    assert {u.id: u.deps for u in units}["total"] == ("sales",)
    assert [u.id for u in units] == [u.id for u in shop.units()]

    units, grouped = task_units(plan, group_plan(plan, "factory"))
    task = make_group_task(PrefectTranslator(), units[0].step)
    assert (task.name, task.retries, grouped["world"].flows) == ("world", 0, tuple(NAMES))
    assert task.tags == {"dataflows-factory", "metrics", "source"}
    with pytest.raises(FactoryDefinitionError, match="wait for each other"):
        build_flow(str(world_file), group_by=lambda s: "a" if s.name in ("countries", "key_metrics") else "b")


def test_a_flow_built_from_a_compiled_plan_loads_no_factory(world_file: Path, tmp_path: Path) -> None:
    """build_flow(plan=) reads only the plan: a factory that is nowhere to be found still builds."""
    plan = compile_plan(load_factory(str(world_file)), select="+key_metrics")
    path = tmp_path / "plan.json"
    write_plan(dataclasses.replace(plan, factory_ref="/nowhere/factory.py:factory"), path)

    built = build_flow(plan=path, group_by="tag")

    assert (built.name, built.fn.__name__) == ("world", "world_flow")
    assert built.description == "dataflows-factory 'world'"
    with pytest.raises(SelectionError, match="no flow 'publish'"):
        build_flow(plan=path, select="publish")
    with pytest.raises(FactoryRefError, match="does not exist"):
        build_flow(plan=tmp_path / "missing.json")


def test_compiled_plan_by_tag_runs_a_task_per_group_with_artifacts_per_flow(
        world_file: Path, tmp_path: Path, api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two group task runs; datasets equal the local runner's; each flow's artifacts; reruns skip."""
    factory = load_factory(str(world_file))
    with monkeypatch.context() as local_only:
        local_only.setenv("DFF_WORKERS", "thread")  # the same datasets, without starting workers
        local = run(factory, store=tmp_path / "local", jobs=1, show_progress=False)
    path = tmp_path / "plan.json"
    write_plan(compile_plan(factory), path)
    grouped = build_flow(plan=path, group_by="tag")

    state = grouped(return_state=True)

    assert state.is_completed()
    results = state.result()
    assert list(results) == NAMES
    for name in NAMES:
        assert results[name]["status"] == "succeeded"
        assert results[name]["rows"] == local.results[name].rows
        assert results[name]["content_hash"] == local.results[name].content_hash
    runs = api.task_runs(state)
    assert sorted(runs) == ["metrics", "source"]
    assert {run.state.name for run in runs.values()} == {"Completed"}
    assert {i.id for i in runs["metrics"].task_inputs["wait_for"]} == {runs["source"].id}
    # Each flow's dataset surfaces as on a task of its own: its table and schema artifacts.
    for group, flows in {"source": NAMES[:2], "metrics": NAMES[2:]}.items():
        published = _artifacts(runs[group].id)
        keys = [artifact_key("world", name) for name in flows]
        assert sorted(published) == sorted([*keys, *(f"{key}-schema" for key in keys)])
    table = _artifacts(runs["metrics"].id)[artifact_key("world", "key_metrics")]
    assert [(row["resource"], row["rows"]) for row in table] == list(results["key_metrics"]["rows"].items())

    again = grouped(return_state=True)
    assert {r["status"] for r in again.result().values()} == {"skipped"}
    assert {n: r["content_hash"] for n, r in again.result().items()} == \
        {n: r["content_hash"] for n, r in results.items()}


def test_a_stale_compiled_plan_fails_its_tasks_once_with_one_line(world_file: Path, tmp_path: Path,
                                                                  api: Any) -> None:
    """Code changed since `dff compile`: the first tasks fail, unretried, saying to compile again."""
    plan = compile_plan(load_factory(str(world_file)))
    changed = world_file.with_name("changed.py")
    changed.write_text(world_file.read_text().replace('row["population"] > 0', 'row["population"] > 1'))
    stale = dataclasses.replace(plan, factory_ref=f"{changed}:factory")

    state = build_flow(plan=stale)(return_state=True)

    assert state.is_failed()
    runs = api.task_runs(state)
    assert sorted(runs) == ["cities", "countries"]  # nothing below them was submitted
    for name in ("countries", "cities"):
        assert (runs[name].state.name, runs[name].run_count) == ("Failed", 1)  # cities has retries=2
    with pytest.raises(FactoryRunError) as caught:
        state.result()
    message = str(caught.value.failures["cities"])
    assert "\n" not in message
    assert message.startswith("the compiled plan of factory 'world' no longer matches its code "
                              "(code of flow(s) ['cities'] changed): re-run `dff compile")
    # Blocked by whichever source failed first.
    assert sorted(caught.value.not_run) == ["key_metrics", "publish"]
    assert set(caught.value.not_run.values()) <= {"countries", "cities"}


def test_a_failing_flow_fails_its_group_naming_the_flow(tmp_path: Path, api: Any) -> None:
    """run_factory with a grouping function: the group fails naming cities; countries still surfaces."""
    shutil.copytree(ROOT / "examples" / "world" / "raw", tmp_path / "raw")
    with (tmp_path / "raw" / "cities.csv").open("a") as cities:
        cities.write("Eldorado,BR,100,false\n")
    path = tmp_path / "fragile.py"
    path.write_text(FRAGILE)

    @flow
    def nightly() -> dict[str, Any]:
        return run_factory(str(path), group_by=_sources)

    state = nightly(return_state=True)

    assert state.is_failed()
    with pytest.raises(FactoryRunError) as caught:
        state.result()
    assert list(caught.value.failures) == ["sources"]
    assert caught.value.not_run == {"key_metrics": "sources", "publish": "sources"}
    group_line = str(caught.value.failures["sources"])
    assert group_line.startswith("group 'sources': flow 'cities'")
    assert "Eldorado is not a real city" in group_line
    runs = api.task_runs(state)
    assert sorted(runs) == ["sources"]
    assert "flow 'cities'" in (runs["sources"].state.message or "")
    assert sorted(_artifacts(runs["sources"].id)) == [artifact_key("fragile", "countries"),
                                                     f"{artifact_key('fragile', 'countries')}-schema"]
