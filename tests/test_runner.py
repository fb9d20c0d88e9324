"""The local runner: parallel, cached, failure-contained, with a manifest per run."""

from __future__ import annotations

import itertools
import json
from datetime import datetime
from pathlib import Path

from dataflows import Flow, load

from dataflows_factory import Factory
from dataflows_factory.runner import run


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_world_runs_with_independent_flows_overlapping(world: Factory):
    """Every flow succeeds and the two sources overlap in time, per the run manifest."""
    report = run(world, jobs=2, show_progress=False)
    assert report.ok, report.failed
    manifest = json.loads(Path(report.manifest).read_text())
    steps = manifest["steps"]
    assert set(steps) == {"countries", "cities", "key_metrics", "publish"}
    assert {name: s["status"] for name, s in steps.items()} == dict.fromkeys(steps, "succeeded")
    assert steps["key_metrics"]["rows"] == {"key_metrics": 15}
    start = {n: datetime.fromisoformat(steps[n]["started_at"]) for n in steps}
    end = {n: datetime.fromisoformat(steps[n]["finished_at"]) for n in steps}
    assert start["countries"] < end["cities"] and start["cities"] < end["countries"]
    assert start["key_metrics"] >= max(end["countries"], end["cities"])
    assert start["publish"] >= end["key_metrics"]


def test_second_run_skips_everything_and_a_changed_source_reruns_its_downstream(
    world: Factory, world_file: Path
):
    """Run twice: all skipped. Edit cities.csv: exactly cities and its downstream run."""
    first = run(world, show_progress=False)
    assert first.ok
    second = run(world, show_progress=False)
    assert {r.status for r in second.results.values()} == {"skipped"}
    csv = world_file.parent / "raw" / "cities.csv"
    csv.write_text(csv.read_text().replace("Osaka,JP,2752412", "Osaka,JP,2752413"))
    third = run(world, show_progress=False)
    assert {n: r.status for n, r in third.results.items()} == {
        "countries": "skipped", "cities": "succeeded", "key_metrics": "succeeded",
        "publish": "succeeded",
    }
    assert third.results["key_metrics"].content_hash != first.results["key_metrics"].content_hash
    assert len(list((Path(world.store().url) / "world" / "_runs").glob("*.json"))) == 3


def _failing_factory(root: Path) -> Factory:
    (root / "good.csv").write_text("id,value\n1,10\n2,20\n")
    factory = Factory("partial", store=root / "data", root=root)

    def reject_flagged(row):
        if (root / "FAIL").exists():
            raise RuntimeError(f"row {row['id']} rejected")

    @factory.flow(retries=1)
    def fragile():
        return Flow(load("good.csv", name="fragile"), reject_flagged)

    @factory.flow()
    def sibling():
        return Flow(load("good.csv", name="sibling"))

    @factory.flow()
    def downstream(fragile):
        return Flow(fragile)

    return factory


def test_a_failure_stops_only_its_downstream_and_keeps_the_old_dataset(tmp_path: Path):
    """Failed flow: retried, reported with its processor, old dataset intact, sibling done."""
    factory = _failing_factory(tmp_path)
    assert run(factory, show_progress=False).ok
    dataset = tmp_path / "data" / "partial" / "fragile"
    before = _snapshot(dataset)
    (tmp_path / "FAIL").touch()
    (tmp_path / "good.csv").write_text("id,value\n1,10\n2,20\n3,30\n")  # so nothing is skipped
    report = run(factory, show_progress=False)
    assert not report.ok
    statuses = {n: r.status for n, r in report.results.items()}
    assert statuses == {"fragile": "failed", "sibling": "succeeded", "downstream": "upstream_failed"}
    failed = report.results["fragile"]
    assert failed.attempt == 2  # retries=1: two attempts
    assert failed.error is not None
    assert failed.error["flow"] == "fragile" and failed.error["processor"] == "reject_flagged"
    assert "row 1 rejected" in failed.error["text"]
    assert _snapshot(dataset) == before
    manifest = json.loads(Path(report.manifest).read_text())
    assert manifest["ok"] is False and manifest["steps"]["fragile"]["status"] == "failed"


def test_selection_runs_only_the_selected_flows(world: Factory):
    """--select +key_metrics runs key_metrics and its upstream, not publish."""
    report = run(world, select="+key_metrics", show_progress=False)
    assert list(report.results) == ["countries", "cities", "key_metrics"]
    again = run(world, select="publish", show_progress=False)
    assert list(again.results) == ["publish"] and again.ok


def test_jobs_one_runs_sequentially(world: Factory):
    """With one job, no two flows overlap."""
    report = run(world, jobs=1, show_progress=False)
    spans = sorted((r.started_at, r.finished_at) for r in report.results.values())
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))
