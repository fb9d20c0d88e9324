"""The world factory compiled to a Prefect flow, run against the real test API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prefect import flow
from prefect.client.orchestration import get_client

from dataflows_factory import FactoryError, load_factory, run
from dataflows_factory.prefect_blocks import FactoryStore, artifact_key, build_flow, run_factory

NAMES = ["countries", "cities", "key_metrics", "publish"]


def test_world_flow_matches_local_runner_and_runs_sources_concurrently(world_file: Path, tmp_path: Path,
                                                                       api) -> None:
    """Each factory flow is one task run; datasets equal the local runner's; sources overlap."""
    factory = load_factory(str(world_file))
    local = run(factory, store=tmp_path / "local", jobs=1, show_progress=False)
    world_flow = build_flow(factory)

    state = world_flow(return_state=True)

    assert state.is_completed()
    results = state.result()
    assert list(results) == NAMES
    for name in NAMES:
        assert results[name]["status"] == "succeeded"
        assert results[name]["rows"] == local.results[name].rows
        assert results[name]["content_hash"] == local.results[name].content_hash
        assert Path(results[name]["dataset_uri"], "datapackage.json").is_file()
    runs = api.task_runs(state)
    assert sorted(runs) == sorted(NAMES)
    assert {run.state.name for run in runs.values()} == {"Completed"}
    countries, cities = runs["countries"], runs["cities"]
    assert countries.start_time < cities.end_time and cities.start_time < countries.end_time
    # Dependencies reach Prefect as wait_for inputs, so the UI draws the factory's DAG.
    waits = {name: {i.id for i in run.task_inputs.get("wait_for", [])} for name, run in runs.items()}
    assert waits["key_metrics"] == {countries.id, cities.id}
    assert waits["publish"] == {runs["key_metrics"].id}


def test_each_task_publishes_row_counts_and_schema_as_artifacts(world_file: Path) -> None:
    """The table artifact lists resources and row counts; the markdown one the schema."""
    state = build_flow(str(world_file))(return_state=True)
    rows = state.result()["key_metrics"]["rows"]

    with get_client(sync_client=True) as client:
        table = client.read_latest_artifacts()
    latest = {artifact.key: artifact for artifact in table}
    key = artifact_key("world", "key_metrics")
    data = latest[key].data
    data = data if isinstance(data, list) else json.loads(data)
    assert [(row["resource"], row["rows"]) for row in data] == list(rows.items())
    markdown = latest[f"{key}-schema"].data
    assert "| urban_share | number |" in markdown
    assert f"{rows['key_metrics']} rows" in markdown


def test_second_run_is_cached_and_a_changed_input_reruns_only_affected_tasks(world_file: Path,
                                                                               api) -> None:
    """Fingerprint caching: all Cached on rerun; a new city re-runs what depends on cities only."""
    world_flow = build_flow(str(world_file))
    first = world_flow(return_state=True)
    assert set(api.states(first).values()) == {"Completed"}

    second = world_flow(return_state=True)
    assert api.states(second) == dict.fromkeys(NAMES, "Cached")
    assert {r["status"] for r in second.result().values()} == {"skipped"}
    assert {n: r["content_hash"] for n, r in second.result().items()} == \
        {n: r["content_hash"] for n, r in first.result().items()}

    cities_csv = world_file.parent / "raw" / "cities.csv"
    cities_csv.write_text(cities_csv.read_text() + "Eldorado,BR,100,false\n")
    third = world_flow(return_state=True)
    # publish runs after key_metrics, whose content changed; countries is untouched.
    assert api.states(third) == {"countries": "Cached", "cities": "Completed",
                                 "key_metrics": "Completed", "publish": "Completed"}
    assert third.result()["cities"]["rows"]["cities"] == first.result()["cities"]["rows"]["cities"] + 1


def test_a_deleted_dataset_is_never_served_from_cache(world_file: Path, api) -> None:
    """Removing a dataset's file makes its task run again instead of hitting the cache."""
    world_flow = build_flow(str(world_file))
    first = world_flow(return_state=True)
    dataset = Path(first.result()["countries"]["dataset_uri"])
    (dataset / "countries.csv").unlink()

    again = world_flow(return_state=True)

    states = api.states(again)
    assert states["countries"] == "Completed"
    assert again.result()["countries"]["status"] == "succeeded"
    assert (dataset / "countries.csv").is_file()
    # Same content again, so everything downstream stays cached.
    assert again.result()["countries"]["content_hash"] == first.result()["countries"]["content_hash"]
    assert states["key_metrics"] == "Cached"
    assert api.states(world_flow(return_state=True))["countries"] == "Cached"
    forced = world_flow(force=True, return_state=True)
    assert api.states(forced) == dict.fromkeys(NAMES, "Completed")
    assert {r["status"] for r in forced.result().values()} == {"succeeded"}


def test_run_factory_inside_a_users_flow(world_file: Path, tmp_path: Path, api) -> None:
    """A user's own @flow runs a selection of the factory as its tasks, into a store block."""
    lake = FactoryStore(url=str(tmp_path / "lake"))

    @flow
    def nightly() -> dict[str, int]:
        results = run_factory(str(world_file), select="+key_metrics", store=lake, cache=False)
        return {name: result.total_rows for name, result in results.items()}

    state = nightly(return_state=True)

    assert state.result() == {"countries": 15, "cities": 32, "key_metrics": 15}
    assert sorted(api.task_runs(state)) == ["cities", "countries", "key_metrics"]
    assert (tmp_path / "lake" / "world" / "key_metrics" / "datapackage.json").is_file()


def test_run_factory_outside_a_flow_says_how_to_run_it(world_file: Path) -> None:
    """run_factory needs a flow run; the error says to use build_flow instead."""
    with pytest.raises(FactoryError, match="build_flow"):
        run_factory(str(world_file))
