"""Partitioned flows fan out to one Prefect task run per partition, then a merge task run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dataflows import Flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterTaskRunId
from shop import sales_factory

from dataflows_factory import Factory, run
from dataflows_factory.partitions import dates
from dataflows_factory.prefect_blocks import FactoryRunError, PrefectTranslator, build_flow, cache_key

PARTS = ["sales[raw/apac.csv]", "sales[raw/eu.csv]", "sales[raw/us.csv]"]
UNITS = [*PARTS, "sales", "total"]


def _sales(root: Path) -> Factory:
    return sales_factory(root, retries=1)


def test_units_and_task_options_follow_the_plan(tmp_path: Path) -> None:
    """Parts, then their merge, then downstream; each part named and retried on its own."""
    plan = _sales(tmp_path).plan()
    units = plan.units()
    assert [u.id for u in units] == UNITS
    assert {u.id: u.deps for u in units} == {
        **dict.fromkeys(PARTS, ()), "sales": tuple(PARTS), "total": ("sales",)}
    step = plan.step("sales")
    part = PrefectTranslator().make_task(step, partition="raw/{eu}.csv")
    merge = PrefectTranslator().make_task(step)
    assert (part.name, part.retries, merge.retries) == ("sales", 1, 1)
    assert part.task_run_name.format(partition="x") == "sales[raw/{eu}.csv]"  # braces escaped
    assert merge.task_run_name == "sales"
    keys = {cache_key("/s", "shop", "sales", "f", partition=p) for p in (None, "a", "b")}
    assert len(keys) == 3


def test_partitioned_flow_matches_local_runner_one_task_run_per_partition(tmp_path: Path, api) -> None:
    """Datasets equal the local runner's; one task run per partition; merge waits for all parts."""
    factory = _sales(tmp_path)
    local = run(factory, store=tmp_path / "local", jobs=2, show_progress=False)
    assert local.ok

    state = build_flow(factory)(return_state=True)

    assert state.is_completed()
    results = state.result()
    assert list(results) == list(local.results) == UNITS
    for unit in UNITS:
        assert results[unit]["status"] == "succeeded"
        assert results[unit]["rows"] == local.results[unit].rows
        assert results[unit]["content_hash"] == local.results[unit].content_hash
    assert [results[p]["partition"] for p in PARTS] == ["raw/apac.csv", "raw/eu.csv", "raw/us.csv"]
    assert results["total"]["rows"] == {"sales": 6}
    runs = api.task_runs(state)
    assert sorted(runs) == sorted(UNITS)
    partitions = factory.plan().step("sales").partitions
    assert len([name for name in runs if name.startswith("sales[")]) == len(partitions) == 3
    assert {run.state.name for run in runs.values()} == {"Completed"}
    waits = {name: {i.id for i in run.task_inputs.get("wait_for", [])} for name, run in runs.items()}
    assert waits["sales"] == {runs[p].id for p in PARTS}
    assert waits["total"] == {runs["sales"].id}
    assert all(waits[p] == set() for p in PARTS)
    # Each part leaves one small table on its own task run; the merge has the keyed ones.
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(
            task_run_id=ArtifactFilterTaskRunId(any_=[runs[p].id for p in PARTS])))
    tables = {a.task_run_id: a.data if isinstance(a.data, list) else json.loads(a.data) for a in artifacts}
    assert len(artifacts) == len(PARTS) and all(a.key is None for a in artifacts)
    assert tables[runs["sales[raw/eu.csv]"].id] == [{"partition": "raw/eu.csv", "resource": "sales",
                                                    "rows": 2}]


def test_cached_partitions_and_a_changed_file_reruns_only_its_partition(tmp_path: Path, api) -> None:
    """Second run: all Cached; a changed file re-runs its part, merge, downstream; a new file adds one."""
    factory = _sales(tmp_path)
    sales_flow = build_flow(factory)
    first = sales_flow(return_state=True)
    assert set(api.states(first).values()) == {"Completed"}

    second = sales_flow(return_state=True)
    assert api.states(second) == dict.fromkeys(UNITS, "Cached")
    assert {r["status"] for r in second.result().values()} == {"skipped"}

    (tmp_path / "raw" / "us.csv").write_text("region,amount\nus,5\nus,6\n")
    third = sales_flow(return_state=True)
    assert api.states(third) == {"sales[raw/apac.csv]": "Cached", "sales[raw/eu.csv]": "Cached",
                                 "sales[raw/us.csv]": "Completed", "sales": "Completed",
                                 "total": "Completed"}
    assert third.result()["total"]["rows"] == {"sales": 7}
    assert run(factory, store=tmp_path / "local", show_progress=False).results["total"].content_hash \
        == third.result()["total"]["content_hash"]

    # Partitions are listed when the flow run starts: a new file is a new task run.
    (tmp_path / "raw" / "jp.csv").write_text("region,amount\njp,1\n")
    fourth = sales_flow(return_state=True)
    assert api.states(fourth) == {**dict.fromkeys(PARTS, "Cached"), "sales[raw/jp.csv]": "Completed",
                                  "sales": "Completed", "total": "Completed"}
    assert fourth.result()["total"]["rows"] == {"sales": 8}


def test_a_deleted_part_is_never_served_from_cache(tmp_path: Path, api) -> None:
    """Removing one part's file re-runs that partition only; same content keeps the merge Cached."""
    factory = _sales(tmp_path)
    sales_flow = build_flow(factory)
    first = sales_flow(return_state=True)
    part = Path(first.result()["sales[raw/eu.csv]"]["dataset_uri"])
    assert part.name.startswith("sales@")
    for csv in part.glob("*.csv"):
        csv.unlink()

    again = sales_flow(return_state=True)

    states = api.states(again)
    assert states["sales[raw/eu.csv]"] == "Completed"
    assert again.result()["sales[raw/eu.csv]"]["status"] == "succeeded"
    assert {states[u] for u in UNITS if u != "sales[raw/eu.csv]"} == {"Cached"}
    assert list(part.glob("*.csv"))


def test_a_failing_partition_fails_its_task_run_and_stops_the_merge(tmp_path: Path, api) -> None:
    """One bad day fails after its retry, naming flow and processor; siblings complete; no merge."""
    factory = Factory("days", store=tmp_path / "data", root=tmp_path)

    def refuse_the_second(row):  # type: ignore[no-untyped-def]
        if row["day"] == "2026-01-02":
            raise ValueError("no data on the 2nd")

    @factory.flow(partitions=dates("2026-01-01", "2026-01-03"), retries=1)
    def daily(partition):  # type: ignore[no-untyped-def]
        return Flow([{"day": partition}], refuse_the_second)

    @factory.flow()
    def month(daily):  # type: ignore[no-untyped-def]
        return Flow(daily)

    state = build_flow(factory)(return_state=True)

    assert state.is_failed()
    with pytest.raises(FactoryRunError) as raised:
        state.result()
    assert raised.value.not_run == {"daily": "daily[2026-01-02]", "month": "daily[2026-01-02]"}
    assert sorted(raised.value.results) == ["daily[2026-01-01]", "daily[2026-01-03]"]
    error = raised.value.failures["daily[2026-01-02]"]
    assert (error.flow, error.processor, error.cause_type) == ("daily", "refuse_the_second", "ValueError")
    assert "daily[2026-01-02]: " in str(raised.value)
    runs = api.task_runs(state)
    assert sorted(runs) == ["daily[2026-01-01]", "daily[2026-01-02]", "daily[2026-01-03]"]
    assert runs["daily[2026-01-01]"].state.name == runs["daily[2026-01-03]"].state.name == "Completed"
    failed = runs["daily[2026-01-02]"]
    assert failed.state.is_failed() and failed.run_count == 2
    assert "flow 'daily'" in failed.state.message and "processor 'refuse_the_second'" in failed.state.message
    assert not (tmp_path / "data" / "days" / "daily").exists()
    assert not (tmp_path / "data" / "days" / "month").exists()
