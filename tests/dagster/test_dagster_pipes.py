"""Flows through Dagster Pipes: the external side runs in an interpreter without Dagster and
reports the same metadata and check as an in-process asset; failures name the flow."""

from __future__ import annotations

import json
import os
import runpy
import subprocess
from pathlib import Path

import pytest
from conformance.datasets import stored
from dagster import AssetCheckKey, AssetKey, DagsterEventType, materialize

from dataflows_factory.adapters.compiled import compile_plan, write_plan
from dataflows_factory.dagster_assets import FactoryResource, build_assets

ROOT = Path(__file__).resolve().parents[2]
FLOWS = ["countries", "cities", "key_metrics", "publish"]
# The flows' environment, built by the noxfile's dagster session (or by hand: see docs/dagster.md,
# Execution modes).
PIPES_PYTHON = os.environ.get("DFF_FLOWS_PYTHON", str(ROOT / ".nox" / "flows" / "bin" / "python"))
# The in-process run that is compared finds every dataset current: it skips, in less time.
VARYING = {"duration_s", "status"}


@pytest.fixture(scope="module")
def python() -> str:
    """The flows' interpreter: dataflows-factory and dagster-pipes, and no Dagster."""
    assert os.access(PIPES_PYTHON, os.X_OK), (
        f"no flows' interpreter at {PIPES_PYTHON}: `nox -s dagster` creates it, or by hand: `uv venv "
        ".nox/flows && uv pip install --python .nox/flows/bin/python -e . dagster-pipes` (or set "
        "DFF_FLOWS_PYTHON)")
    code = ("import dagster_pipes, dataflows_factory\n"
            "try:\n    import dagster\nexcept ImportError:\n    print('no dagster')")
    done = subprocess.run([PIPES_PYTHON, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "no dagster", done.stderr
    return PIPES_PYTHON


def _events(instance, run_id: str, kind: DagsterEventType) -> list:
    return [record.dagster_event for record in instance.all_logs(run_id, of_type=kind)]


def _failure(result):
    (failure,) = [e.step_failure_data.user_failure_data for e in result.all_events
                  if e.event_type == DagsterEventType.STEP_FAILURE]
    return failure


def test_example_materializes_through_pipes_like_in_process(project, python, instance, monkeypatch,
                                                            local_reference, world) -> None:
    """examples/dagster/pipes_definitions.py loads from a compiled plan, materializes every flow
    through Pipes to the local runner's datasets, and the event log holds the same metadata
    (keys and values) and dataset_valid checks as an in-process materialization of the same store."""
    write_plan(compile_plan(world), project / "examples" / "dagster" / "world.plan.json")
    monkeypatch.setenv("DFF_FLOWS_PYTHON", python)
    defs = runpy.run_path(str(project / "examples" / "dagster" / "pipes_definitions.py"))["defs"]
    store = project / "pipes-store"
    assets = list(defs.assets)
    result = materialize(assets, instance=instance, resources={"dff": FactoryResource(store=str(store))})
    assert result.success
    assert stored(store, "world", FLOWS) == local_reference(world)

    in_process = materialize(build_assets(world), instance=instance,
                             resources={"dff": FactoryResource(store=str(store))})
    expected = {e.asset_key: e.step_materialization_data.materialization
                for e in in_process.get_asset_materialization_events()}
    found = {e.asset_key: e.event_specific_data.materialization
             for e in _events(instance, result.run_id, DagsterEventType.ASSET_MATERIALIZATION)}
    assert sorted(k.to_user_string() for k in found) == sorted(f"world/{flow}" for flow in FLOWS)
    for key, materialization in found.items():
        theirs = expected[key].metadata
        assert materialization.metadata.keys() == theirs.keys()
        assert {k: v for k, v in materialization.metadata.items() if k not in VARYING} == {
            k: v for k, v in theirs.items() if k not in VARYING}
        assert materialization.metadata["dataset_uri"].value == str(store / "world" / key.path[-1])
        assert (materialization.metadata["status"].value, theirs["status"].value) == ("succeeded", "skipped")
        assert materialization.tags["dagster/data_version"] == theirs["content_hash"].value
    evaluations = {e.event_specific_data.asset_check_key: e.event_specific_data
                   for e in _events(instance, result.run_id, DagsterEventType.ASSET_CHECK_EVALUATION)}
    assert sorted(evaluations) == sorted(AssetCheckKey(AssetKey(["world", flow]), "dataset_valid")
                                         for flow in FLOWS)
    assert all(evaluation.passed for evaluation in evaluations.values())
    cities = evaluations[AssetCheckKey(AssetKey(["world", "cities"]), "dataset_valid")]
    assert cities.metadata["rows_checked"].value == found[AssetKey(["world", "cities"])].metadata[
        "dagster/row_count"].value


def test_failing_flow_and_stale_plan_through_pipes(fragile, python, instance, tmp_path) -> None:
    """A missing interpreter, then a bad row, fail 'numbers' naming the flow (and the processor:
    the external side sent its error and exited non-zero); a plan that no longer matches the
    code fails 'flaky' once, without its retries."""
    plan = tmp_path / "fragile.plan.json"
    write_plan(compile_plan(fragile), plan)
    raw = fragile.root / "raw" / "numbers.csv"
    raw.write_text(raw.read_text() + "4,-40\n")
    resources = {"dff": FactoryResource()}
    result = materialize(build_assets(plan=plan, python=str(tmp_path / "nowhere"), select="numbers"),
                         instance=instance, resources=resources, raise_on_error=False)
    assert "flow 'numbers': interpreter" in _failure(result).description
    result = materialize(build_assets(plan=plan, python=python, select="numbers"), instance=instance,
                         resources=resources, raise_on_error=False)
    assert not result.success
    failure = _failure(result)
    assert failure.description.startswith("flow 'numbers', processor 'check_positive'")
    assert "negative value -40" in failure.description
    assert failure.metadata["processor"].value == "check_positive"
    assert not (Path(fragile.store().url) / "fragile" / "numbers").exists()

    data = json.loads(plan.read_text())
    data["code_hash"] = "0" * 16
    plan.write_text(json.dumps(data))
    result = materialize(build_assets(plan=plan, python=python, select="flaky"), instance=instance,
                         resources=resources, raise_on_error=False)
    assert not result.success
    failure = _failure(result)
    assert "no longer matches its code" in failure.description
    assert "re-run `dff compile" in failure.description
    assert not [e for e in result.all_events if e.event_type == DagsterEventType.STEP_UP_FOR_RETRY]
