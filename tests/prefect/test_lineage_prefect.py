"""OpenLineage from the world factory on Prefect: each step's events point at its task run."""

from __future__ import annotations

from pathlib import Path

import pytest
from lineage_support import by_job, file_transport, read_events, step_parents

from dataflows_factory.prefect_blocks import build_flow

NAMES = ["countries", "cities", "key_metrics", "publish"]


def test_each_step_emits_start_and_complete_with_its_task_run_as_parent(
        world_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, api) -> None:
    """Every flow's step (run in a worker process) emits a valid START and COMPLETE whose parent
    is its Prefect task run and whose root is the flow run, by Prefect's own ids."""
    events = tmp_path / "events.jsonl"
    for name, value in file_transport(events).items():
        monkeypatch.setenv(name, value)
    state = build_flow(str(world_file), isolation="process")(return_state=True)

    assert state.is_completed()
    runs = api.task_runs(state)
    flow_run_id = str(state.state_details.flow_run_id)
    jobs = by_job(read_events(events))
    for name, parents in step_parents(read_events(events), NAMES).items():
        for parent in parents:
            assert (parent["job"]["namespace"], parent["job"]["name"]) == ("prefect", f"world.{name}")
            assert parent["run"]["runId"] == str(runs[name].id)
            assert (parent["root"]["job"]["namespace"], parent["root"]["job"]["name"]) == ("prefect", "world")
            assert parent["root"]["run"]["runId"] == flow_run_id
    [output] = jobs["world.key_metrics"][-1]["outputs"]
    assert output["outputFacets"]["outputStatistics"]["rowCount"] == 15
    assert output["name"] == str(world_file.parent / "data" / "world" / "key_metrics")


def test_a_group_task_is_the_parent_of_its_flows(world_file: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch, api) -> None:
    """With one task for the whole factory, every flow's valid events name that task run as
    parent (no factory-level run in between) and the flow run as root."""
    events = tmp_path / "events.jsonl"
    for name, value in file_transport(events).items():
        monkeypatch.setenv(name, value)
    state = build_flow(str(world_file), group_by="factory")(return_state=True)

    assert state.is_completed()
    [task_run] = api.task_runs(state).values()
    assert sorted(by_job(read_events(events))) == sorted(f"world.{name}" for name in NAMES)
    for parents in step_parents(read_events(events), NAMES).values():
        for parent in parents:
            assert (parent["job"]["name"], parent["run"]["runId"]) == ("world.world", str(task_run.id))
            assert parent["root"]["run"]["runId"] == str(state.state_details.flow_run_id)
