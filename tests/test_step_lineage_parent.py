"""``dff step --lineage-parent``: how an orchestrator in another interpreter names the run a
step belongs to (Airflow's external operator uses it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from lineage_support import by_job, file_transport, read_events, validate_event

PARENT = {"namespace": "airflow", "job": "world_dag.countries",
          "run_id": "0b3f9c1e-5f7a-4b1e-8f53-2b6a3a0e9d11",
          "root": {"namespace": "airflow", "job": "world_dag",
                   "run_id": "1c4a0d2f-6a8b-4c2f-9a64-3c7b4b1fae22"}}


def dff_step(world_file: Path, events: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dataflows_factory", "step", str(world_file), "countries",
                           *options], env={**os.environ, **file_transport(events)},
                          capture_output=True, text=True, timeout=120, cwd=world_file.parent)


def test_the_step_events_name_the_given_parent_and_root(world_file: Path, tmp_path: Path) -> None:
    """The step's valid START and COMPLETE carry the parent and root given as JSON."""
    events = tmp_path / "events.jsonl"
    done = dff_step(world_file, events, "--lineage-parent", json.dumps(PARENT))
    assert done.returncode == 0, done.stderr
    steps = by_job(read_events(events))["world.countries"]
    assert [event["eventType"] for event in steps] == ["START", "COMPLETE"]
    for event in steps:
        validate_event(event)
        parent = event["run"]["facets"]["parent"]
        assert (parent["job"]["name"], parent["run"]["runId"]) == (PARENT["job"], PARENT["run_id"])
        assert (parent["root"]["job"]["name"], parent["root"]["run"]["runId"]) == (
            PARENT["root"]["job"], PARENT["root"]["run_id"])


def test_a_malformed_parent_is_a_usage_error(world_file: Path, tmp_path: Path) -> None:
    """JSON that is no parent run stops the step before it runs, naming the option."""
    events = tmp_path / "events.jsonl"
    done = dff_step(world_file, events, "--lineage-parent", '{"namespace": "airflow"}')
    assert done.returncode == 2
    assert "--lineage-parent" in done.stderr and "not a parent run" in done.stderr
    assert not events.exists()
    assert not (world_file.parent / "data" / "world" / "countries").exists()
