"""The bad-input corpus (cases/cases.toml) through the real ``dff run``: one clear line, right exit."""

from __future__ import annotations

import json
import shutil
import subprocess
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from _dff import dff

CASES_DIR = Path(__file__).parent / "cases"
CASES: list[dict[str, Any]] = tomllib.loads((CASES_DIR / "cases.toml").read_text())["case"]

# The one-flow factory a CSV case runs: load ``in.csv`` (or what ``load`` says), then ``steps``.
CSV_FACTORY = '''
from dataflows import Flow, load, set_type, set_primary_key, validate
from dataflows_factory import Factory

factory = Factory("cases", store="data")


def explode(row):
    return 1 / 0


def missing_key(row):
    row["total"] = row["nope"]


def third_row_fails(rows):
    for number, row in enumerate(rows, start=1):
        if number == 3:
            raise RuntimeError("the third row is one too many")
        yield row


@factory.flow()
def data():
    return Flow(load({source}, name="in"{load}){steps})
'''


def _prepare(case: dict[str, Any], folder: Path) -> None:
    if "csv" in case:
        shutil.copyfile(CASES_DIR / "data" / case["csv"], folder / "in.csv")
        load = case.get("load", "")
        source = "'in.csv'"
        if load.startswith("'"):  # the case names the source itself
            source, _, load = load.partition(",")
        if case["csv"].endswith(".json"):
            shutil.copyfile(CASES_DIR / "data" / case["csv"], folder / "in.json")
            source = "'in.json'"
        steps = case.get("steps", "")
        (folder / "factory.py").write_text(CSV_FACTORY.format(
            source=source, load=f", {load}" if load.strip() else "",
            steps=f", {steps}" if steps else ""))
    else:
        shutil.copyfile(CASES_DIR / "factories" / case["factory"], folder / "factory.py")
    for name in case.get("files", []):
        shutil.copyfile(CASES_DIR / "data" / name, folder / "in.csv")
    setup = case.get("setup")
    if setup == "corrupt_upstream":
        assert dff("run", "factory.py", "--select", "source", "--no-progress", cwd=folder).returncode == 0
        (folder / "data" / "cases" / "source" / "datapackage.json").write_text("{not json")
    elif setup == "store_is_file":
        (folder / "occupied").write_text("a file where the store folder should be")


def _manifest_error(folder: Path, flow: str | None) -> dict[str, Any] | None:
    runs = sorted((folder / "data" / "cases" / "_runs").glob("*.json")) if (
        folder / "data" / "cases" / "_runs").is_dir() else []
    if not runs:
        return None
    steps = json.loads(runs[-1].read_text())["steps"]
    failed = [s for name, s in steps.items() if s["status"] == "failed" and (flow in (None, name))]
    return failed[0]["error"] if failed else None


def test_corpus_is_big_enough() -> None:
    """The corpus holds at least 40 failing cases, each with a unique id."""
    assert len({case["id"] for case in CASES}) == len(CASES)
    assert sum(1 for case in CASES if case["exit"] != 0) >= 40


def _run_case(case: dict[str, Any], folder: Path) -> subprocess.CompletedProcess[str]:
    folder.mkdir()
    _prepare(case, folder)
    return dff("run", "factory.py", "--no-progress", *case.get("args", []), cwd=folder)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every case run once, three CLI processes at a time (each is mostly interpreter start)."""
    base = tmp_path_factory.mktemp("corpus")
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {c["id"]: pool.submit(_run_case, c, base / c["id"]) for c in CASES}
    return {name: (future.result(), base / name) for name, future in futures.items()}


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_bad_input(case: dict[str, Any], outcomes: dict[str, Any]) -> None:
    """Each bad input gives its exit code and one error line naming where, with no traceback."""
    done, project = outcomes[case["id"]]
    output = done.stdout + done.stderr
    assert done.returncode == case["exit"], output
    assert "Traceback" not in output, output
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    if case["exit"] == 0:
        assert lines == [], output
        return
    assert len(lines) == 1, output
    line = lines[0]
    if "error" in case:
        assert f"{case['error']}: " in line or f"{case['error']}(" in line, line
    for fragment in case.get("contains", []):
        assert fragment in line, line
    if case["exit"] == 1:
        error = _manifest_error(project, case.get("flow"))
        assert error is not None, output
        assert error["text"] in line  # the manifest and the terminal say the same thing
        assert f"flow {error['flow']!r}" in line
        assert error["flow"] == case.get("flow", error["flow"])
        assert error["processor"], line  # every flow failure names the processor
        if "error" in case:
            assert error["type"] == case["error"]
        for key in ("processor", "resource", "row", "field"):
            if key in case:
                assert error[key] == case[key], (key, error)
        if "row" in case:
            assert f"row {case['row']}" in line


def test_debug_shows_the_traceback(project: Path) -> None:
    """With --debug a failing flow's traceback is printed; without it, never."""
    _prepare({"factory": "flow_function_raises.py"}, project)
    done = dff("--debug", "run", "factory.py", "--no-progress", cwd=project)
    assert done.returncode == 1
    assert "Traceback" in done.stderr
