"""Debugging tools: sample runs (``--limit``), ``dff trace``, and ``breakpoint()`` under ``--debug``."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner, Result
from shop import sales_factory

from dataflows_factory import load_factory
from dataflows_factory.adapters.trace import trace_flow
from dataflows_factory.cli import main
from dataflows_factory.runner import run


def dff(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), env={"COLUMNS": "200"})


def _files(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file under ``folder`` with the hash of its bytes and its modification time."""
    return {str(path.relative_to(folder)): (hashlib.sha256(path.read_bytes()).hexdigest(),
                                            path.stat().st_mtime_ns)
            for path in sorted(folder.rglob("*")) if path.is_file()}


def _rows(store: Path, factory: str, flow: str) -> dict[str, int]:
    descriptor = json.loads((store / factory / flow / "datapackage.json").read_text())
    return {r["name"]: r["count_of_rows"] for r in descriptor["resources"]}


def csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_limit_caps_sources_in_a_scratch_store_and_leaves_the_real_store_untouched(world_file: Path):
    """A --limit 3 run writes at most 3 rows per source to .dff-sample, says so, and changes
    no byte of the real store (datasets and _runs)."""
    real = world_file.parent / "data"
    assert run(str(world_file)).ok
    before = _files(real)
    result = dff("run", str(world_file), "--limit", "3", "--no-progress")
    assert result.exit_code == 0, result.output
    scratch = world_file.parent / ".dff-sample"
    assert _rows(scratch, "world", "countries") == {"countries": 3}
    assert _rows(scratch, "world", "publish") == {"sources": 2}  # a 2-row file: all of it
    # cities filters its 3 loaded rows (all have a population), so 3 reach the dataset.
    assert _rows(scratch, "world", "cities") == {"cities": 3}
    shown = " ".join(result.output.split())  # the table wraps its title to its width
    assert "sample run: at most 3 rows per source" in shown
    assert "datasets in a scratch store" in shown and f"datasets: {scratch} ·" in result.output
    assert list((scratch / "world" / "_runs").glob("*.json"))
    assert _files(real) == before


def test_limit_on_a_join_flow_runs_its_upstream_sampled_and_caps_its_inputs(world_file: Path):
    """--select key_metrics --limit 2 also samples countries and cities; the join reads 2
    countries and 2 cities."""
    report = run(str(world_file), select="key_metrics", limit=2)
    assert report.ok and report.to_dict()["limit"] == 2
    assert list(report.results) == ["countries", "cities", "key_metrics"]
    scratch = world_file.parent / ".dff-sample" / "world"
    rows = csv_rows(scratch / "key_metrics" / "key_metrics.csv")
    # The first 2 countries (BR, CN) and the first 2 cities (both in BR; the file has 3).
    assert [(row["code"], row["cities"]) for row in rows] == [("BR", "2"), ("CN", "")]
    assert not (world_file.parent / "data").exists()


def test_limit_caps_each_partition_and_the_upstream_dataset_a_flow_reads(tmp_path: Path):
    """With limit=1, each of the 3 partitions keeps 1 row (merged: 3) and the flow reading
    the merged dataset gets 1."""
    factory = sales_factory(tmp_path)
    report = run(factory, limit=1)
    assert report.ok, [r.error for r in report.failed]
    scratch = tmp_path / ".dff-sample"
    assert _rows(scratch, "shop", "sales") == {"sales": 3}
    assert _rows(scratch, "shop", "total") == {"sales": 1}
    assert not (tmp_path / "data").exists()


def test_a_sample_run_refuses_the_real_store(world_file: Path):
    """--limit with --store naming the factory's own store exits 2 and writes nothing."""
    real = world_file.parent / "data"
    result = dff("run", str(world_file), "--limit", "2", "--store", str(real))
    assert result.exit_code == 2
    assert "never writes to the factory's store" in result.output
    assert not real.exists()


def test_trace_shows_each_step_its_schema_and_first_rows(world_file: Path):
    """dff trace of key_metrics names its 6 steps, their schema and 2 rows, writing nothing."""
    assert run(str(world_file), select="countries,cities").ok
    before = _files(world_file.parent / "data")
    trace = trace_flow(load_factory(str(world_file)), "key_metrics", rows=2)
    assert trace.ok
    assert [(s.position, s.name) for s in trace.steps] == [
        (1, "input 'cities'"), (2, "input 'countries'"), (3, "join_aux"),
        (4, "add_computed_field"), (5, "sort_rows"), (6, "update_resource")]
    assert ("urban_share", "number") in trace.steps[3].schema["countries"]
    assert [row["code"] for row in trace.steps[4].rows["countries"]] == ["AR", "AU"]
    assert list(trace.steps[5].schema) == ["key_metrics"]
    result = dff("trace", str(world_file), "key_metrics", "--rows", "2", "--resource", "key_metrics")
    assert result.exit_code == 0, result.output
    shown = result.output
    for step in ("step #1 input 'cities'", "step #3 join_aux", "step #6 update_resource"):
        assert step in shown
    assert "key_metrics: 8 field(s), first 2 row(s)" in shown and "Argentina" in shown
    assert "countries: " not in shown  # --resource shows only key_metrics
    assert _files(world_file.parent / "data") == before


def test_trace_of_a_failing_flow_names_the_step_and_the_row_and_exits_1(tmp_path: Path):
    """The failing step, the row it was handed (before it changed it) and the run's error line."""
    (tmp_path / "factory.py").write_text(
        "from dataflows import Flow\n"
        "from dataflows_factory import Factory\n"
        "factory = Factory('bad')\n"
        "def explode(row):\n"
        "    if row['i'] == 2:\n"
        "        row['name'] = 'changed'\n"
        "        raise ValueError('boom at ' + str(row['i']))\n"
        "@factory.flow()\n"
        "def numbers():\n"
        "    return Flow([{'i': 1, 'name': 'one'}, {'i': 2, 'name': 'two'}], explode)\n")
    result = dff("trace", str(tmp_path / "factory.py"), "numbers")
    assert result.exit_code == 1
    assert "step #2 explode: failed" in result.output
    assert "resource 'res_1', row 2" in result.output
    row = result.output.split("step #2 explode: failed", 1)[1]
    assert "two" in row and "changed" not in row
    assert ("error: flow 'numbers', processor 'explode' (step #2), resource 'res_1', row 2 "
            "failed: ValueError: boom at 2") in " ".join(result.output.split())
    assert not (tmp_path / "data").exists()


def test_trace_without_the_upstream_dataset_says_to_run_it_first(world_file: Path):
    """Tracing key_metrics before countries ran exits 1 naming the missing upstream."""
    result = dff("trace", str(world_file), "key_metrics")
    assert result.exit_code == 1
    assert "run 'cities' first" in result.output or "run 'countries' first" in result.output


def test_breakpoint_stops_in_pdb_under_debug_jobs_1(tmp_path: Path):
    """dff --debug run --jobs 1 runs the flow in the CLI process: pdb's prompt shows the row,
    `c` continues and the run succeeds."""
    (tmp_path / "factory.py").write_text(
        "from dataflows import Flow\n"
        "from dataflows_factory import Factory\n"
        "factory = Factory('dbg')\n"
        "def look(row):\n"
        "    if row['i'] == 2:\n"
        "        breakpoint()\n"
        "@factory.flow()\n"
        "def numbers():\n"
        "    return Flow([{'i': 1, 'name': 'one'}, {'i': 2, 'name': 'two'}], look)\n")
    environment = {**os.environ, "COLUMNS": "200"}
    environment.pop("PYTHONBREAKPOINT", None)  # the default: pdb.set_trace
    result = subprocess.run(
        [sys.executable, "-m", "dataflows_factory", "--debug", "run", "--jobs", "1"],
        input="p row\nc\n", cwd=tmp_path, capture_output=True, text=True, env=environment,
        timeout=60)
    assert result.returncode == 0, result.stderr
    assert "(Pdb)" in result.stdout
    assert "{'i': 2, 'name': 'two'}" in result.stdout
    assert "succeeded" in result.stdout
