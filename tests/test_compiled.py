"""Compiled plans (``dff compile``) and one step run by another process (``dff step``)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dataflows_factory import load_factory
from dataflows_factory.adapters.compiled import (
    StalePlanError,
    check_plan,
    compile_plan,
    read_plan,
    write_plan,
)
from dataflows_factory.adapters.external import ExternalStepError, run_external
from dataflows_factory.errors import FactoryRefError, FlowExecutionError
from tests.test_cli import dff


def test_a_compiled_plan_round_trips_with_code_versions_and_hash(world_file: Path, tmp_path: Path):
    factory = load_factory(str(world_file))
    plan = compile_plan(factory, store=tmp_path / "store")
    assert len(plan.code_hash) == 16
    assert all(len(step.code_version) == 16 for step in plan.steps)
    assert plan.factory_ref and plan.factory_ref.endswith("factory.py:factory")
    write_plan(plan, tmp_path / "world.plan.json")
    again = read_plan(tmp_path / "world.plan.json")
    assert again == plan and again.code_hash == plan.code_hash
    assert [u.id for u in again.units()] == [u.id for u in plan.units()]
    written = json.loads((tmp_path / "world.plan.json").read_text())
    assert written["units"][2] == {"id": "key_metrics", "flow": "key_metrics", "partition": None,
                                   "deps": ["countries", "cities"]}
    check_plan(again, factory)  # the code it came from: passes


def test_a_changed_flow_makes_the_plan_stale_naming_the_flow(world_file: Path, tmp_path: Path):
    plan = compile_plan(load_factory(str(world_file)))
    source = world_file.read_text()
    edited = world_file.with_name("edited.py")
    edited.write_text(source.replace('filter_rows(', 'filter_rows(lambda row: True), filter_rows(', 1))
    with pytest.raises(StalePlanError) as caught:
        check_plan(plan, load_factory(str(edited)))
    text = str(caught.value)
    assert "['cities']" in text and "re-run `dff compile" in text and "\n" not in text
    # A flow the plan knows but the factory lost.
    (tmp_path / "less.py").write_text(source.split("@factory.flow(retries=2")[0])
    with pytest.raises(StalePlanError, match=r"no longer exist"):
        check_plan(plan, load_factory(str(tmp_path / "less.py")))


def _parts_factory(folder: Path) -> Path:
    """A factory with a flow partitioned over ``raw/*.csv`` (one file, ``raw/a.csv``) and a
    plain one; returns its file."""
    (folder / "raw").mkdir()
    (folder / "raw" / "a.csv").write_text("x\n1\n")
    path = folder / "factory.py"
    path.write_text(
        "from dataflows import Flow, load\nfrom dataflows_factory import Factory\n"
        "from dataflows_factory.partitions import files\n"
        "factory = Factory('parts')\n"
        "@factory.flow(partitions=files('raw/*.csv'))\n"
        "def sales(partition):\n    return Flow(load(partition, name='sales'))\n"
        "@factory.flow()\ndef plain():\n    return Flow([{'a': 1}])\n")
    return path


def test_partitions_and_store_are_not_code(tmp_path: Path):
    """A new partition file or another store keeps the plan valid: only code and wiring count."""
    factory = load_factory(str(_parts_factory(tmp_path)))
    plan = compile_plan(factory)
    assert plan.step("sales").partitions == ("raw/a.csv",)
    (tmp_path / "raw" / "b.csv").write_text("x\n2\n")
    check_plan(plan, factory)
    check_plan(compile_plan(factory, store=tmp_path / "elsewhere"), factory)


def test_reading_a_missing_or_foreign_plan_says_what_to_do(tmp_path: Path):
    with pytest.raises(FactoryRefError, match=r"does not exist: write it with `dff compile"):
        read_plan(tmp_path / "nope.json")
    (tmp_path / "other.json").write_text(json.dumps({"factory": "x"}))
    with pytest.raises(FactoryRefError, match=r"not a plan written by `dff compile`"):
        read_plan(tmp_path / "other.json")
    (tmp_path / "newer.json").write_text(json.dumps({"format": "dataflows-factory/plan", "version": 99}))
    with pytest.raises(FactoryRefError, match=r"format version 99"):
        read_plan(tmp_path / "newer.json")
    (tmp_path / "cut.json").write_text(json.dumps({"format": "dataflows-factory/plan", "version": 1,
                                                   "factory": "x", "store": "/s", "steps": [{"name": "a"}]}))
    with pytest.raises(FactoryRefError, match=r"is damaged \(KeyError: 'inputs'\): compile it again"):
        read_plan(tmp_path / "cut.json")
    (tmp_path / "half.json").write_text('{"format": "dataflows-factory/plan", "ver')
    with pytest.raises(FactoryRefError, match=r"cannot be read"):
        read_plan(tmp_path / "half.json")


def test_reading_a_plan_imports_neither_dataflows_nor_the_factory(world_file: Path, tmp_path: Path):
    write_plan(compile_plan(load_factory(str(world_file))), tmp_path / "p.json")
    code = ("import sys\nfrom dataflows_factory.adapters.compiled import read_plan\n"
            "from dataflows_factory.adapters.groups import group_plan\n"
            "from dataflows_factory.adapters import external\n"
            f"plan = read_plan({str(tmp_path / 'p.json')!r}); group_plan(plan, 'tag'); plan.units()\n"
            "loaded = [m for m in sys.modules if m.split('.')[0] in ('dataflows', 'tabulator', 'datapackage')"
            " or m.startswith('_dff_') or m == 'dataflows_factory.factory']\n"
            "assert not loaded, loaded\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_dff_compile_then_dff_step_runs_one_flow_and_writes_its_outcome(world_file: Path, tmp_path: Path):
    plan_file = tmp_path / "world.plan.json"
    compiled = dff("compile", str(world_file), "-o", str(plan_file), "--select", "+key_metrics")
    assert compiled.returncode == 0, compiled.stderr
    assert "3 flow(s)" in compiled.stdout and str(plan_file) in compiled.stdout
    assert read_plan(plan_file).names == ("countries", "cities", "key_metrics")
    outcome = tmp_path / "outcome.json"
    stepped = dff("step", str(world_file), "countries", "--plan", str(plan_file), "--outcome", str(outcome),
                  "--run-id", "r1", "--attempt", "2")
    assert stepped.returncode == 0, stepped.stderr
    result = json.loads(outcome.read_text())["result"]
    assert result["status"] == "succeeded" and result["rows"] == {"countries": 15}
    assert result["run_id"] == "r1" and result["attempt"] == 2
    # The step's own log line reaches whoever reads the process's output.
    assert "flow 'countries' done: 15 rows" in stepped.stderr
    # A flow whose upstream was never published fails: exit 1, one line, the error as outcome.
    failed = dff("step", str(world_file), "key_metrics", "--outcome", str(outcome))
    assert failed.returncode == 1
    error = json.loads(outcome.read_text())["error"]
    assert error["flow"] == "key_metrics" and error["text"] in failed.stderr
    assert "Traceback" not in failed.stderr


def test_dff_step_refuses_a_stale_plan_with_one_line(world_file: Path, tmp_path: Path):
    plan_file = tmp_path / "world.plan.json"
    assert dff("compile", str(world_file), "-o", str(plan_file)).returncode == 0
    source = world_file.read_text()
    world_file.write_text(source.replace('name="countries"', 'name="countries", format="csv"'))
    outcome = tmp_path / "outcome.json"
    stale = dff("step", str(world_file), "countries", "--plan", str(plan_file), "--outcome", str(outcome))
    assert stale.returncode == 2
    lines = [line for line in stale.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "StalePlanError" in lines[0] and "re-run `dff compile" in lines[0]
    assert "StalePlanError" in json.loads(outcome.read_text())["unusable"]


def test_dff_step_arguments_the_factory_does_not_have_are_usage_errors(tmp_path: Path):
    _parts_factory(tmp_path)
    for args, message in [(("nope",), "has no flow 'nope'; known flows: ['plain', 'sales']"),
                          (("plain", "--partition", "raw/a.csv"), "flow 'plain' is not partitioned"),
                          (("sales", "--partition", "raw/b.csv"), "has no partition 'raw/b.csv'")]:
        result = dff("step", "factory.py", *args, cwd=tmp_path)
        assert result.returncode == 2 and message in result.stderr, (args, result.stderr)
    part = dff("step", "factory.py", "sales", "--partition", "raw/a.csv", cwd=tmp_path)
    assert part.returncode == 0 and "flow 'sales' partition 'raw/a.csv': succeeded, 1 rows" in part.stderr


def test_run_external_returns_the_result_and_re_raises_a_flow_failure(world_file: Path, tmp_path: Path):
    lines: list[str] = []
    store = str(tmp_path / "store")
    result = run_external(sys.executable, str(world_file), "countries", log=lines.append, store=store,
                          run_id="ext", cwd=str(world_file.parent))
    assert result.status == "succeeded" and result.rows == {"countries": 15} and result.run_id == "ext"
    assert any("flow 'countries' done: 15 rows" in line for line in lines)
    with pytest.raises(FlowExecutionError) as caught:
        run_external(sys.executable, str(world_file), "key_metrics", log=lines.append, store=store)
    assert caught.value.flow == "key_metrics"
    assert "upstream flow 'cities' does not exist" in str(caught.value)
    with pytest.raises(ExternalStepError, match=r"interpreter '/nowhere/python' does not exist"):
        run_external("/nowhere/python", str(world_file), "countries", log=lines.append)
    with pytest.raises(ExternalStepError, match=r"FactoryRefError"):
        run_external(sys.executable, str(tmp_path / "missing.py"), "countries", log=lines.append)


def test_dff_step_stopped_by_sigterm_publishes_nothing_and_leaves_no_staging(tmp_path: Path):
    """A scheduler killing its task (SIGTERM) stops the step where it stands, as a worker's."""
    (tmp_path / "factory.py").write_text(
        "import time\nfrom dataflows import Flow\nfrom dataflows_factory import Factory\n"
        "factory = Factory('slow', store='data')\n"
        "def crawl(rows):\n    for row in rows:\n        time.sleep(0.01)\n        yield row\n"
        "@factory.flow()\ndef slow():\n    return Flow([{'x': i} for i in range(5000)], crawl)\n")
    outcome = tmp_path / "outcome.json"
    process = subprocess.Popen([sys.executable, "-m", "dataflows_factory", "step", "factory.py", "slow",
                                "--outcome", str(outcome)], cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    staging = tmp_path / "data" / "slow" / ".staging"
    deadline = time.monotonic() + 60
    while not (staging.is_dir() and any(staging.iterdir())) and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert "flow 'slow' failed: Interrupted: stopped: it received SIGTERM; nothing was published" in stderr
    # A failed try (retried by the caller, as a local runner's worker stopped by a signal).
    assert json.loads(outcome.read_text())["error"]["type"] == "Interrupted"
    assert not (tmp_path / "data" / "slow" / "slow").exists()
    assert not any(staging.iterdir())


def test_dff_step_says_why_a_factory_that_does_not_import_cannot_run(tmp_path: Path):
    (tmp_path / "factory.py").write_text("import no_such_module_here\n")
    outcome = tmp_path / "outcome.json"
    result = dff("step", "factory.py", "x", "--outcome", str(outcome), cwd=tmp_path)
    assert result.returncode == 2 and "ModuleNotFoundError" in result.stderr
    assert "no_such_module_here" in json.loads(outcome.read_text())["unusable"]


def test_run_external_treats_a_killed_step_as_a_failed_try(tmp_path: Path):
    """SIGKILL (the OOM killer) leaves no outcome: a flow failure a retry may get through."""
    (tmp_path / "factory.py").write_text(
        "import os, signal\nfrom dataflows import Flow\nfrom dataflows_factory import Factory\n"
        "factory = Factory('killed', store='data')\n"
        "def die(rows):\n    os.kill(os.getpid(), signal.SIGKILL)\n    yield from rows\n"
        "@factory.flow()\ndef doomed():\n    return Flow([{'x': 1}], die)\n")
    with pytest.raises(FlowExecutionError, match=r"flow 'doomed' failed: Interrupted: its process was "
                                                 r"killed by SIGKILL"):
        run_external(sys.executable, str(tmp_path / "factory.py"), "doomed", log=lambda line: None)
    assert not (tmp_path / "data" / "killed" / "doomed").exists()
