"""The dff command line, run as a real subprocess: outputs, exit codes, no traceback spew."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def dff(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "dataflows_factory", *args], cwd=cwd,
                          capture_output=True, text=True, env=environment, timeout=300)


def test_run_then_rerun_skips_everything(world_file: Path):
    """dff run exits 0; the second run's JSON report shows every flow skipped."""
    first = dff("run", str(world_file), "--no-progress")
    assert first.returncode == 0, first.stderr
    assert "key_metrics" in first.stdout and "succeeded" in first.stdout
    second = dff("run", str(world_file), "--json")
    assert second.returncode == 0
    report = json.loads(second.stdout)
    assert {s["status"] for s in report["steps"].values()} == {"skipped"}


def test_a_failing_flow_exits_1_with_one_clear_error(tmp_path: Path):
    """Exit code 1; stderr names the flow and the processor; no traceback without --debug."""
    (tmp_path / "factory.py").write_text(
        "from dataflows import Flow\n"
        "from dataflows_factory import Factory\n"
        "factory = Factory('bad')\n"
        "def explode(row):\n"
        "    raise ValueError('boom at ' + str(row['i']))\n"
        "@factory.flow()\n"
        "def numbers():\n"
        "    return Flow([{'i': 1}], explode)\n"
    )
    result = dff("run", "--no-progress", cwd=tmp_path)
    assert result.returncode == 1
    assert "flow 'numbers', processor 'explode'" in result.stderr
    assert "boom at 1" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_definition_errors_exit_2_and_debug_shows_the_traceback(tmp_path: Path):
    """A cycle is a definition error: exit 2, the cycle printed; --debug adds the traceback."""
    (tmp_path / "factory.py").write_text(
        "from dataflows import Flow\n"
        "from dataflows_factory import Factory\n"
        "factory = Factory('cyc')\n"
        "@factory.flow()\n"
        "def a(b):\n    return Flow(b)\n"
        "@factory.flow()\n"
        "def b(a):\n    return Flow(a)\n"
    )
    result = dff("run", cwd=tmp_path)
    assert result.returncode == 2
    assert "cycle" in result.stderr and ("a -> b -> a" in result.stderr or "b -> a -> b" in result.stderr)
    assert "Traceback" not in result.stderr
    debug = dff("--debug", "graph", cwd=tmp_path)
    assert debug.returncode != 0 and "Traceback" in debug.stderr


def test_usage_errors_exit_2(world_file: Path):
    """Unknown selection or missing file: exit 2."""
    assert dff("run", str(world_file), "--select", "nope").returncode == 2
    assert dff("run", str(world_file.parent / "missing.py")).returncode == 2
    assert dff("run", "--jobs", "0", str(world_file)).returncode == 2


def test_graph_mermaid_is_valid_with_one_node_per_flow(world_file: Path):
    """--format mermaid prints `graph TD`, one node per flow and the edges."""
    result = dff("graph", str(world_file), "--format", "mermaid")
    assert result.returncode == 0
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "graph TD"
    nodes = [line.split("[")[0].strip() for line in lines[1:] if "[" in line]
    assert nodes == ["countries", "cities", "key_metrics", "publish"]
    assert "    countries --> key_metrics" in lines and "    key_metrics -.-> publish" in lines
    dot = dff("graph", str(world_file), "--format", "dot").stdout
    assert dot.startswith('digraph "world"') and '"cities" -> "key_metrics";' in dot
    text = dff("graph", str(world_file)).stdout
    assert "└── publish" in text or "├── publish" in text


def test_list_inspect_validate(world_file: Path):
    """list shows flows; inspect shows schema and rows; validate catches a corrupted file."""
    assert dff("run", str(world_file), "--no-progress").returncode == 0
    listing = dff("list", str(world_file))
    assert listing.returncode == 0 and "key_metrics" in listing.stdout and "countries" in listing.stdout
    inspected = dff("inspect", str(world_file), "key_metrics", "--rows", "3")
    assert inspected.returncode == 0
    assert "urban_share" in inspected.stdout and "Argentina" in inspected.stdout
    assert "Germany" not in inspected.stdout  # only three rows
    valid = dff("validate", str(world_file))
    assert valid.returncode == 0, valid.stdout
    csv = world_file.parent / "data" / "world" / "cities" / "cities.csv"
    csv.write_text(csv.read_text().replace("12325232", "lots"))
    invalid = dff("validate", str(world_file))
    assert invalid.returncode == 1 and "population" in invalid.stdout


def test_processors_lists_dataflows_standard_library():
    """dff processors lists dataflows' processors with a description each."""
    result = dff("processors")
    assert result.returncode == 0
    for name in ("load", "join", "sort_rows", "dump_to_path", "filter_rows"):
        assert name in result.stdout


# Asks each of dff's commands for --help in turn, in one fresh interpreter: a start-up costs
# about a second of CPU, and one per command made this the module's second slowest test.
HELP_EVERYWHERE = """
import contextlib, io, json
from dataflows_factory.cli import main
answers = {}
for command in sorted(main.commands):
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        try:
            main([command, "--help"], prog_name="dff")
            code = None  # returned without exiting: not what --help does
        except SystemExit as done:
            code = done.code
    answers[command] = [code, printed.getvalue()]
print(json.dumps(answers))
"""


def test_help_everywhere():
    """Every dff command, asked in one interpreter, answers --help with exit 0 and its own usage line."""
    done = subprocess.run([sys.executable, "-c", HELP_EVERYWHERE], capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "200"}, timeout=300)
    assert done.returncode == 0, done.stderr
    answers = json.loads(done.stdout)
    assert set(answers) >= {"init", "run", "graph", "list", "inspect", "processors", "validate", "compile",
                            "step"}
    for command, (code, printed) in answers.items():
        assert code == 0 and f"Usage: dff {command} " in printed, (command, code, printed)


def test_init_then_run_in_the_new_project(tmp_path: Path):
    """dff init DIR scaffolds a project whose `dff run` succeeds, run from inside it."""
    assert dff("init", "demo", cwd=tmp_path).returncode == 0
    project = tmp_path / "demo"
    assert (project / "factory.py").is_file() and (project / "raw" / "orders.csv").is_file()
    result = dff("run", "--no-progress", cwd=project)
    assert result.returncode == 0, result.stderr
    assert (project / "data" / "demo" / "revenue" / "datapackage.json").is_file()
    assert dff("init", "demo", cwd=tmp_path).returncode == 2  # refuses to overwrite


@pytest.mark.slow
def test_init_and_run_in_a_fresh_venv_with_only_pip_install(tmp_path: Path):
    """`pip install .` into a brand-new venv, then `dff init demo && cd demo && dff run`."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # --no-compile: byte-compiling every dependency is most of pip's time here, and what it
    # proves (the package and its dependencies install) does not depend on it.
    pip = subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", "--no-compile", str(ROOT)],
                         capture_output=True, text=True, timeout=900)
    assert pip.returncode == 0, pip.stderr[-2000:]
    dff_bin = str(venv / "bin" / "dff")
    assert subprocess.run([dff_bin, "init", "demo"], cwd=tmp_path, timeout=120).returncode == 0
    result = subprocess.run([dff_bin, "run", "--no-progress"], cwd=tmp_path / "demo",
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "revenue" in result.stdout


def test_nothing_printed_is_read_as_markup(tmp_path: Path):
    """Partition labels like sales[raw/a.csv], a description in brackets and a short-row note
    show as they are in the run table, list and inspect."""
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "a.csv").write_text("x,y\n1,[bold]b[/]\n2\n")
    (tmp_path / "factory.py").write_text(
        "from dataflows import Flow, load\n"
        "from dataflows_factory import Factory\n"
        "from dataflows_factory.partitions import files\n"
        "factory = Factory('marks')\n"
        "@factory.flow(partitions=files('raw/*.csv'))\n"
        "def sales(partition):\n"
        "    '''[red]Sales[/red] of [raw] files.'''\n"
        "    return Flow(load(partition, name='sales'))\n"
    )
    ran = dff("run", "--no-progress", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert "sales[raw/a.csv]" in ran.stdout
    assert "1 short row(s) padded" in ran.stdout
    bars = dff("run", "--progress", "--force", cwd=tmp_path)
    assert bars.returncode == 0 and "sales[raw/a.csv]" in bars.stderr, bars.stderr
    listed = dff("list", cwd=tmp_path)
    assert "[red]Sales[/red] of [raw] files." in listed.stdout
    inspected = dff("inspect", "factory.py", "sales", cwd=tmp_path)
    assert "[bold]b[/]" in inspected.stdout
