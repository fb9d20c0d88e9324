"""Ctrl-C, SIGTERM and a killed ``dff run``: stop fast, publish nothing after the signal, keep
the previous datasets byte-identical and leave nothing the next run cannot clean."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _dff import dff
from test_crash_safety import _snapshot, _write_inputs

STOP_SECONDS = 2.0  # the promise: a run stops within 2 s of the signal


def _group_alive(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group ``pgid``."""
    alive = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, group = fields[0], int(fields[2])
        if group == pgid and state not in ("Z", "X"):
            alive.append(int(entry))
    return alive


def _start_slow_run(project: Path, *args: str, workers: str = "fork"
                    ) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """A ``dff run`` of the big flow, crawling, with its new dataset half-written in staging."""
    _write_inputs(project, 2000, "old")
    assert dff("run", "factory.py", "--no-progress", cwd=project).returncode == 0
    before = _snapshot(project)
    _write_inputs(project, 40_000, "new")
    (project / "slow.flag").write_text("crawl")
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", "DFF_WORKERS": workers}
    env.pop("DFF_STORE", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "dataflows_factory.cli", "run", "factory.py", "-s", "big",
         "--no-progress", *args], cwd=project, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if (project / "streaming.flag").exists():  # 2,000 of 40,000 rows streamed, in staging
            break
        time.sleep(0.05)
    if process.poll() is not None:
        raise AssertionError(f"the run ended before the signal: {process.communicate()}")
    return process, before


def _latest_manifest(project: Path) -> dict[str, object]:
    runs = sorted((project / "data" / "crash" / "_runs").glob("*.json"),
                  key=lambda p: json.loads(p.read_text())["started_at"])
    return json.loads(runs[-1].read_text())  # type: ignore[no-any-return]


def _assert_nothing_published_and_next_run_repairs(project: Path, before: dict[str, str]) -> None:
    time.sleep(1.0)  # a worker that outlived its run would publish about now
    assert _snapshot(project) == before
    (project / "slow.flag").unlink()
    again = dff("run", "factory.py", "-s", "big", "--no-progress", "--json", cwd=project)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["steps"]["big"]["rows"] == {"big": 40_000}
    assert not any((project / "data" / "crash" / ".staging").iterdir())


@pytest.mark.parametrize(("signum", "target", "code", "workers"), [
    (signal.SIGINT, "group", 130, "fork"),   # Ctrl-C in a terminal
    (signal.SIGINT, "main", 130, "fork"),    # kill -INT of the dff process alone
    (signal.SIGTERM, "main", 143, "fork"),   # what schedulers and containers send
    (signal.SIGTERM, "group", 143, "fork"),
    (signal.SIGINT, "group", 130, "spawn"),  # workers of a fresh interpreter (callers with threads)
    (signal.SIGTERM, "main", 143, "spawn"),
    (signal.SIGHUP, "group", 129, "fork"),   # the terminal was closed
], ids=["sigint-group", "sigint-main", "sigterm-main", "sigterm-group", "sigint-group-spawn",
        "sigterm-main-spawn", "sighup-group"])
def test_a_signal_stops_the_run_within_two_seconds_and_publishes_nothing(
        project: Path, signum: int, target: str, code: int, workers: str) -> None:
    """The run exits 128+signal within 2 s with one line, its manifest says interrupted, and the
    dataset being built is not published: the previous one stays byte-identical."""
    process, before = _start_slow_run(project, "--jobs", "2", workers=workers)
    sent = time.monotonic()
    (os.killpg if target == "group" else os.kill)(process.pid, signum)
    try:
        _out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    stopped = time.monotonic() - sent
    assert stopped < STOP_SECONDS, f"stopped {stopped:.2f} s after the signal"
    assert process.returncode == code, err
    name = signal.Signals(signum).name
    said = [line for line in err.splitlines() if "interrupted" in line]
    assert len(said) == 1 and said[0].startswith("error: run "), err
    assert f"interrupted by {name}" in said[0]
    assert "Traceback" not in err
    assert not _group_alive(process.pid), "a worker outlived its run"
    manifest = _latest_manifest(project)
    assert manifest["interrupted"] == name
    assert manifest["ok"] is False
    assert manifest["finished_at"]
    assert manifest["steps"]["big"]["status"] == "interrupted"  # type: ignore[index]
    _assert_nothing_published_and_next_run_repairs(project, before)


@pytest.mark.parametrize("workers", ["fork", "spawn"])
def test_workers_of_a_killed_run_stop_within_two_seconds_and_publish_nothing(project: Path,
                                                                             workers: str) -> None:
    """``kill -9`` of the dff process alone (an OOM kill): its workers notice, publish nothing,
    exit, and the next run cleans what they left."""
    process, before = _start_slow_run(project, "--jobs", "2", workers=workers)
    assert len(_group_alive(process.pid)) >= 2, "the flow runs in a worker process"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    killed = time.monotonic()
    while _group_alive(process.pid) and time.monotonic() - killed < 10:
        time.sleep(0.05)
    gone = time.monotonic() - killed
    assert not _group_alive(process.pid), "workers still run 10 s after their parent was killed"
    assert gone < STOP_SECONDS, f"workers stopped {gone:.2f} s after their parent was killed"
    _assert_nothing_published_and_next_run_repairs(project, before)
