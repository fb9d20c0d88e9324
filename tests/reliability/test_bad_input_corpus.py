"""The bad-input corpus (cases/cases.toml) through the real ``dff`` CLI: one clear line, right exit."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import tomllib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from _dff import Forks, dff

from dataflows_factory.processors import registry

# The module's shared fixture runs once: its tests stay on one xdist worker (--dist loadgroup).
pytestmark = pytest.mark.xdist_group("bad-input-corpus")

CASES_DIR = Path(__file__).parent / "cases"
CASES: list[dict[str, Any]] = tomllib.loads((CASES_DIR / "cases.toml").read_text())["case"]
STORE_COMMANDS = ("run", "list", "inspect", "validate")

# Passwords the cases put in store and engine URLs: no output may ever show them.
SECRETS = ("s3cr3t", "hunter2")

# No case may reach the network or the machine's cloud credentials: botocore finds no keys
# and its one attempt goes to a closed loopback port, so a store error comes back at once.
OFFLINE = {
    "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_CONFIG_FILE": "/nonexistent",
    "AWS_EC2_METADATA_DISABLED": "true", "AWS_ENDPOINT_URL": "http://127.0.0.1:1",
    "AWS_MAX_ATTEMPTS": "1", "AWS_RETRY_MODE": "standard",
}

# The one-flow factory a CSV case runs: load ``in.<ext>`` (or what ``load`` says), then ``steps``.
CSV_FACTORY = '''
from dataflows import (Flow, add_computed_field, checkpoint, concatenate, delete_fields, filter_rows,
                       find_replace, join, join_with_self, load, rename_fields, select_fields,
                       set_primary_key, set_type, sort_rows, unpivot, update_resource, validate)
from dataflows_factory import Factory
from dataflows_factory.processors.parallel import parallelize
from dataflows_factory.processors.sql import to_sql

factory = Factory("cases", store="data")


def explode(row):
    return 1 / 0


def missing_key(row):
    row["total"] = row["nope"]


def text_into_a(row):
    row["a"] = "bad"


def third_row_fails(rows):
    for number, row in enumerate(rows, start=1):
        if number == 3:
            raise RuntimeError("the third row is one too many")
        yield row


@factory.flow()
def data():
    return Flow(load({source}, name="in"{load}){steps})
'''


def _csv_factory(case: dict[str, Any]) -> str:
    load = case.get("load", "")
    source = repr("in" + Path(case.get("csv", "in.csv")).suffix)
    if load.startswith("'"):  # the case names the source itself
        source, _, load = load.partition(",")
    steps = case.get("steps", "")
    return CSV_FACTORY.format(source=source, load=f", {load}" if load.strip() else "",
                              steps=f", {steps}" if steps else "")


def _run_source(folder: Path) -> None:
    done = dff("run", "factory.py", "--select", "source", "--no-progress", cwd=folder, env=OFFLINE)
    assert done.returncode == 0, done.stderr


def _corrupt_upstream(folder: Path) -> None:
    _run_source(folder)
    (folder / "data" / "cases" / "source" / "datapackage.json").write_text("{not json")


def _edit_upstream_csv(folder: Path) -> None:
    # By hand, as people do: the second data row's last value becomes text in a number column.
    _run_source(folder)
    path = folder / "data" / "cases" / "source" / "source.csv"
    lines = path.read_text().splitlines()
    lines[2] = lines[2].rsplit(",", 1)[0] + ",x"
    path.write_text("\n".join(lines) + "\n")


def _store_is_file(folder: Path) -> None:
    (folder / "occupied").write_text("a file where the store folder should be")


SETUPS: dict[str, Callable[[Path], None]] = {
    "run_source": _run_source,
    "corrupt_upstream": _corrupt_upstream,
    "edit_upstream_csv": _edit_upstream_csv,
    "store_is_file": _store_is_file,
}


def _prepare(case: dict[str, Any], folder: Path) -> None:
    if "factory" in case:
        shutil.copyfile(CASES_DIR / "factories" / case["factory"], folder / "factory.py")
    else:
        (folder / "factory.py").write_text(_csv_factory(case))
    if "csv" in case:
        shutil.copyfile(CASES_DIR / "data" / case["csv"], folder / ("in" + Path(case["csv"]).suffix))
    for name in case.get("files", []):
        shutil.copyfile(CASES_DIR / "data" / name, folder / "in.csv")
    for name, text in case.get("write", {}).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    if "setup" in case:
        SETUPS[case["setup"]](folder)


def _arguments(case: dict[str, Any]) -> list[str]:
    """``command`` (``run`` by default, ``inspect FLOW``...) on factory.py, then the case's options."""
    command, *rest = case.get("command", "run").split()
    arguments = [command, "factory.py", *rest]
    if command == "run":
        arguments.append("--no-progress")
    if "store" in case:
        arguments += ["--store", case["store"]]
    return arguments + case.get("args", [])


def _manifest_error(folder: Path, flow: str | None) -> dict[str, Any] | None:
    runs = sorted((folder / "data" / "cases" / "_runs").glob("*.json")) if (
        folder / "data" / "cases" / "_runs").is_dir() else []
    if not runs:
        return None
    # The latest run: a setup's run in the same second may sort after it by name.
    manifests = [json.loads(path.read_text()) for path in runs]
    steps = max(manifests, key=lambda manifest: manifest["started_at"])["steps"]
    failed = [s for name, s in steps.items() if s["status"] == "failed" and (flow in (None, name))]
    return failed[0]["error"] if failed else None


def test_corpus_is_big_enough() -> None:
    """At least 100 cases (80 failing) with unique ids; every processor ``dff processors`` lists
    as ours and every store command (and graph) is exercised."""
    assert len({case["id"] for case in CASES}) == len(CASES)
    assert len(CASES) >= 100
    assert sum(1 for case in CASES if case["exit"] != 0) >= 80
    ours = {info.name for info in registry() if info.origin == "dataflows_factory"}
    covered = {case.get("processor") for case in CASES} | {
        name for case in CASES for name in case.get("covers", [])}
    assert ours <= covered, f"no case for {sorted(ours - covered)}"
    commands = {case.get("command", "run").split()[0] for case in CASES}
    assert commands >= {*STORE_COMMANDS, "graph"}
    with_store = {case.get("command", "run").split()[0] for case in CASES if "store" in case}
    assert with_store >= set(STORE_COMMANDS), f"no --store case for {set(STORE_COMMANDS) - with_store}"
    assert all(set(case.get("covers", [])) <= ours for case in CASES)  # no typo hides a gap


_RUNNERS = threading.local()


def _run_case(case: dict[str, Any], folder: Path) -> subprocess.CompletedProcess[str]:
    folder.mkdir()
    _prepare(case, folder)
    runner: Forks = _RUNNERS.forks
    return runner.dff(*_arguments(case), cwd=folder, env={**OFFLINE, **case.get("env", {})})


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every case run once through dff's entry point, three at a time, each in a fork of an
    interpreter that imported the CLI once (a fresh process per case would spend most of
    its time importing dataflows)."""
    base = tmp_path_factory.mktemp("corpus")
    runners: list[Forks] = []

    def start() -> None:
        _RUNNERS.forks = Forks()
        runners.append(_RUNNERS.forks)

    try:
        with ThreadPoolExecutor(max_workers=3, initializer=start) as pool:
            futures = {c["id"]: (pool.submit(_run_case, c, base / c["id"]), base / c["id"])
                       for c in CASES}
        return futures  # all done: leaving the pool waited for them
    finally:
        for runner in runners:
            runner.close()


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_bad_input(case: dict[str, Any], outcomes: dict[str, Any]) -> None:
    """Each bad input gives its exit code and one error line naming where, with no traceback."""
    future, project = outcomes[case["id"]]
    done = future.result()  # a failed setup fails its own case only
    output = done.stdout + done.stderr
    assert done.returncode == case["exit"], output
    assert "Traceback" not in output, output
    assert not [secret for secret in SECRETS if secret in output], output
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
    for fragment in case.get("absent", []):
        assert fragment not in line, line
    if "flow" in case:
        assert f"{case['flow']!r}" in line, line
    if case["exit"] == 1 and case.get("command", "run") == "run":
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
