"""OpenLineage from the world assets on Dagster: each step's events point at the Dagster run."""

from __future__ import annotations

import os
import runpy
from pathlib import Path

import pytest
from dagster import DagsterInstance, materialize
from lineage_support import by_job, file_transport, read_events, step_parents

from dataflows_factory import Factory
from dataflows_factory.adapters.compiled import compile_plan, write_plan
from dataflows_factory.dagster_assets import FactoryResource, build_assets

FLOWS = ["countries", "cities", "key_metrics", "publish"]
ROOT = Path(__file__).resolve().parents[2]
# The flows' own environment (the noxfile's flows_python), as in test_dagster_pipes.py.
PIPES_PYTHON = os.environ.get("DFF_FLOWS_PYTHON", str(ROOT / ".nox" / "flows" / "bin" / "python"))


@pytest.mark.parametrize("group_by", ["flow", "factory"])
def test_each_step_emits_start_and_complete_with_the_dagster_run_as_parent(
        world: Factory, tmp_path: Path, instance: DagsterInstance, monkeypatch: pytest.MonkeyPatch,
        group_by: str) -> None:
    """Materializing the world assets (an op per asset, or one op for all) makes every flow's
    step emit a valid START and COMPLETE whose parent is the Dagster run, by its run id."""
    events = tmp_path / "events.jsonl"
    for name, value in file_transport(events).items():
        monkeypatch.setenv(name, value)
    store = tmp_path / "dagster-store"
    result = materialize(build_assets(world, group_by=group_by), instance=instance,
                         resources={"dff": FactoryResource(store=str(store))})

    assert result.success
    jobs = by_job(read_events(events))
    assert sorted(jobs) == sorted(f"world.{flow}" for flow in FLOWS)
    for parents in step_parents(read_events(events), FLOWS).values():
        for parent in parents:
            job = (parent["job"]["namespace"], parent["job"]["name"])
            assert job == ("dagster", result.dagster_run.job_name)
            assert parent["run"]["runId"] == result.run_id
    [output] = jobs["world.key_metrics"][-1]["outputs"]
    assert output["name"] == str(store / "world" / "key_metrics")
    assert output["outputFacets"]["outputStatistics"]["rowCount"] == 15


def test_a_pipes_step_names_the_dagster_run_as_parent(project: Path, world: Factory, tmp_path: Path,
                                                       instance: DagsterInstance,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Through Dagster Pipes, the step in the flows' interpreter (no Dagster there) emits a valid
    START and COMPLETE per flow, its parent the Dagster run handed over in the Pipes extras."""
    events = tmp_path / "events.jsonl"
    for name, value in file_transport(events).items():
        monkeypatch.setenv(name, value)
    write_plan(compile_plan(world), project / "examples" / "dagster" / "world.plan.json")
    monkeypatch.setenv("DFF_FLOWS_PYTHON", PIPES_PYTHON)
    defs = runpy.run_path(str(project / "examples" / "dagster" / "pipes_definitions.py"))["defs"]
    result = materialize(list(defs.assets), instance=instance,
                         resources={"dff": FactoryResource(store=str(tmp_path / "pipes-store"))})

    assert result.success
    for parents in step_parents(read_events(events), FLOWS).values():
        assert [parent["run"]["runId"] for parent in parents] == [result.run_id] * 2
