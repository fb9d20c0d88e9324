"""SIGKILL mid-dump loses nothing, racing runs don't corrupt, --resume reruns only what failed."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from _dff import dff

# A flow big enough to be killed while it streams; ``ROWS`` in the file decides its size.
FACTORY = '''
import os
import time

from dataflows import Flow, load
from dataflows_factory import Factory

factory = Factory("crash", store="data")


def throttle(rows):
    # While slow.flag exists the flow crawls, so a test can kill it mid-dump; after 2,000
    # rows it says so in streaming.flag (the dumper buffers: file sizes do not tell).
    here = os.path.dirname(__file__)
    slow = os.path.exists(os.path.join(here, "slow.flag"))
    for number, row in enumerate(rows):
        if slow and number % 200 == 0:
            time.sleep(0.05)
            if number == 2000:
                open(os.path.join(here, "streaming.flag"), "w").close()
        yield row


@factory.flow()
def big():
    return Flow(load("big.csv", name="big"), throttle)


@factory.flow()
def summary(big):
    def keep_first(rows):
        for number, row in enumerate(rows):
            if number < 10:
                yield row
    return Flow(big, keep_first)


@factory.flow()
def fragile():
    return Flow(load("fragile.csv", name="fragile"))


@factory.flow()
def after_fragile(fragile):
    return Flow(fragile)
'''


def _write_inputs(folder: Path, rows: int, tag: str) -> None:
    lines = ["id,name,value"] + [f"{i},{tag}-{i},{i * 7 % 1000}" for i in range(rows)]
    (folder / "big.csv").write_text("\n".join(lines) + "\n")
    (folder / "fragile.csv").write_text("id,value\n1,10\n2,20\n")
    (folder / "factory.py").write_text(FACTORY)


def _snapshot(folder: Path) -> dict[str, str]:
    """Every file of the store's datasets (not runs, locks or staging) and its sha256."""
    root = folder / "data" / "crash"
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.relative_to(root).parts[0]
            not in ("_runs", ".locks", ".staging", ".trash")}


def test_sigkill_mid_dump_keeps_the_last_good_dataset(project: Path) -> None:
    """A run killed while dumping leaves the old dataset byte-identical; the next run repairs."""
    _write_inputs(project, 2000, "old")
    assert dff("run", "factory.py", "-s", "big", "--no-progress", cwd=project).returncode == 0
    before = _snapshot(project)
    _write_inputs(project, 40_000, "new")
    (project / "slow.flag").write_text("crawl")
    staging = project / "data" / "crash" / ".staging"
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("DFF_STORE", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "dataflows_factory.cli", "run", "factory.py", "-s", "big",
         "--no-progress", "--jobs", "1"], cwd=project, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        # Wait until the new dataset is being written in staging (2,000 of 40,000 rows).
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            if (project / "streaming.flag").exists():
                break
            time.sleep(0.05)
        assert process.poll() is None, "the run ended before it could be killed"
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # the CLI and its worker, mid-dump
        process.wait()
    assert _snapshot(project) == before
    assert any(staging.iterdir()), "the killed run left its staging folder (hidden)"
    descriptor = json.loads((project / "data/crash/big/datapackage.json").read_text())
    assert descriptor["count_of_rows"] == 2000
    (project / "slow.flag").unlink()

    again = dff("run", "factory.py", "-s", "big", "--no-progress", "--json", cwd=project)
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert report["steps"]["big"]["status"] == "succeeded"
    assert report["steps"]["big"]["rows"] == {"big": 40_000}
    assert not any(staging.iterdir()), "the next run removed the leftovers"


def test_two_concurrent_runs_do_not_corrupt_the_store(project: Path) -> None:
    """Two runs of one factory racing on one store both finish, and every dataset is whole."""
    _write_inputs(project, 20_000, "race")
    (project / "fragile.csv").write_text("id,value\n1,10\n")
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("DFF_STORE", None)
    command = [sys.executable, "-m", "dataflows_factory.cli", "run", "factory.py", "--no-progress",
               "--json", "--jobs", "2"]
    first = subprocess.Popen(command, cwd=project, env=env, stdout=subprocess.PIPE, text=True)
    second = subprocess.Popen(command, cwd=project, env=env, stdout=subprocess.PIPE, text=True)
    reports = [json.loads(p.communicate(timeout=300)[0]) for p in (first, second)]
    assert [r["ok"] for r in reports] == [True, True]
    statuses = sorted(r["steps"]["big"]["status"] for r in reports)
    # The flow lock serialises the writers: the second finds the dataset fresh and skips.
    assert statuses == ["skipped", "succeeded"]
    hashes = {r["steps"]["big"]["content_hash"] for r in reports}
    assert len(hashes) == 1
    validate = dff("validate", "factory.py", cwd=project)
    assert validate.returncode == 0, validate.stdout + validate.stderr
    assert not any((project / "data/crash/.staging").iterdir())


def test_resume_reruns_only_failed_flows_and_downstream(project: Path) -> None:
    """After a failure, --resume reruns the failed flow and its downstream, nothing else."""
    _write_inputs(project, 100, "resume")
    (project / "fragile.csv").write_text("id,value\n1,10\n2,oops\n")
    (project / "factory.py").write_text(FACTORY.replace(
        'load("fragile.csv", name="fragile")',
        'load("fragile.csv", name="fragile", cast_strategy=load.CAST_TO_STRINGS), '
        'set_type("value", type="integer")').replace(
        "from dataflows import Flow, load", "from dataflows import Flow, load, set_type"))
    first = dff("run", "factory.py", "--no-progress", "--json", cwd=project)
    assert first.returncode == 1
    steps = json.loads(first.stdout)["steps"]
    assert steps["fragile"]["status"] == "failed"
    assert steps["after_fragile"]["status"] == "upstream_failed"
    assert steps["big"]["status"] == steps["summary"]["status"] == "succeeded"

    (project / "fragile.csv").write_text("id,value\n1,10\n2,20\n")
    resumed = dff("run", "factory.py", "--no-progress", "--json", "--resume", cwd=project)
    assert resumed.returncode == 0, resumed.stderr
    report = json.loads(resumed.stdout)
    assert report["plan"] == ["fragile", "after_fragile"]
    assert {name: s["status"] for name, s in report["steps"].items()} == {
        "fragile": "succeeded", "after_fragile": "succeeded"}

    nothing = dff("run", "factory.py", "--no-progress", "--json", "--resume", cwd=project)
    assert json.loads(nothing.stdout)["plan"] == []


def test_changed_input_is_never_served_stale(project: Path) -> None:
    """When an input file changes, its flow and the flows reading it run again."""
    _write_inputs(project, 50, "v1")
    first = json.loads(dff("run", "factory.py", "--no-progress", "--json", cwd=project).stdout)
    same = json.loads(dff("run", "factory.py", "--no-progress", "--json", cwd=project).stdout)
    assert {s["status"] for s in same["steps"].values()} == {"skipped"}
    # Same size, same row count, one byte different: only the content tells.
    text = (project / "big.csv").read_text()
    (project / "big.csv").write_text(text.replace("v1-0,", "v2-0,"))
    changed = json.loads(dff("run", "factory.py", "--no-progress", "--json", cwd=project).stdout)
    status = {name: s["status"] for name, s in changed["steps"].items()}
    assert status["big"] == status["summary"] == "succeeded"
    assert status["fragile"] == status["after_fragile"] == "skipped"
    assert changed["steps"]["big"]["content_hash"] != first["steps"]["big"]["content_hash"]
    rows = (project / "data/crash/summary").glob("*.csv")
    assert any("v2-0" in p.read_text() for p in rows)
