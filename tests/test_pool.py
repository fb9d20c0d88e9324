"""The one worker pool: start methods, one error payload, dead workers, and the thread fallback."""

from __future__ import annotations

import logging
import os
import queue
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from dataflows_factory import Factory, load_factory
from dataflows_factory._locking import repair
from dataflows_factory.adapters.pool import WORKER_DIED, Call, WorkerPool, error_payload
from dataflows_factory.errors import FlowExecutionError, InvalidTableNameError
from dataflows_factory.runner import run

SOURCE = '''
import os
import signal

from dataflows import Flow

from dataflows_factory import Factory

factory = Factory("pool", store="data")


def where():
    yield {"pid": os.getpid()}


def die():
    os.kill(os.getpid(), signal.SIGKILL)
    yield {"never": 1}


def check(row):
    if row["a"] == 2:
        raise ValueError("bad row")


@factory.flow()
def here():
    return Flow(where())


@factory.flow()
def killed():
    return Flow(die())


@factory.flow()
def broken():
    return Flow([{"a": 1}, {"a": 2}], check)
'''


@pytest.fixture
def pool_factory(tmp_path: Path) -> Factory:
    """A factory whose flows report their pid, kill their worker, or fail on a row."""
    (tmp_path / "pool.py").write_text(SOURCE)
    return load_factory(str(tmp_path / "pool.py"))


def _done(pool: WorkerPool, call: Call) -> dict[str, Any]:
    events: queue.SimpleQueue[Any] = queue.SimpleQueue()
    pool.submit(call, events)
    while True:
        _ticket, kind, data = events.get(timeout=120)
        if kind == "done":
            return dict(data)


@pytest.mark.parametrize("start", ["fork", "spawn", "thread"])
def test_each_start_method_runs_steps_and_reports_one_error_payload(pool_factory: Factory,
                                                                    start: str) -> None:
    """A result, a flow's error (flow, processor, row named) and a dead worker come back as
    the same payloads whichever way the workers start."""
    pool = WorkerPool(2, start=start)  # type: ignore[arg-type]
    ref = pool_factory.get_ref()
    try:
        done = _done(pool, Call("here", "here", ref=ref))
        assert done["result"]["status"] == "succeeded"
        broken = _done(pool, Call("broken", "broken", ref=ref))["error"]
        assert (broken["flow"], broken["type"], broken["row"]) == ("broken", "ValueError", 2)
        assert broken["text"].startswith("flow 'broken'") and "bad row" in broken["text"]
        assert "Traceback" in broken["traceback"]
        if start != "thread":  # a thread cannot be killed without its caller
            died = _done(pool, Call("killed", "killed", ref=ref))["error"]
            assert (died["flow"], died["type"], died["message"]) == ("killed", "WorkerDied", WORKER_DIED)
            again = _done(pool, Call("here", "here", ref=ref, force=True))
            assert again["result"]["status"] == "succeeded"  # a new worker took it
    finally:
        pool.close()


def test_error_payload_names_the_flow_for_any_exception() -> None:
    """A library error keeps its processor; any other exception becomes one line naming the flow."""
    plain = error_payload("cities", RuntimeError("disk full"), partition="eu")
    assert plain["text"] == "flow 'cities', partition 'eu' failed: RuntimeError: disk full"
    table = error_payload("sink", InvalidTableNameError("bad table 'x y'"))
    assert table["processor"] == "to_sql"
    flow_error = error_payload("f", FlowExecutionError("f", "boom", processor="p"), partition="a")
    assert flow_error["partition"] == "a" and flow_error["processor"] == "p"


def test_workers_that_cannot_start_fall_back_to_threads_with_one_warning(
        pool_factory: Factory, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """No executable to start workers with: the run still succeeds, in threads, said once."""
    from dataflows_factory.adapters import pool as pools

    # Spawned workers come from the process's shared pool: start it afresh, so that it must
    # start workers (an earlier test may have left it warm), and leave none of it behind.
    pools._close_shared()
    monkeypatch.setenv("DFF_WORKERS", "spawn")
    monkeypatch.setattr(sys, "executable", "")
    try:
        with caplog.at_level(logging.WARNING, logger="dataflows_factory"):
            report = run(pool_factory, select="here", show_progress=False)
    finally:
        pools._close_shared()
    assert report.ok, report.to_dict()
    warnings = [r for r in caplog.records if "worker processes cannot be started" in r.getMessage()]
    assert len(warnings) == 1
    descriptor = Path(report.results["here"].dataset_uri) / "datapackage.json"
    assert descriptor.exists()
    rows = (Path(report.results["here"].dataset_uri) / "res_1.csv").read_text().splitlines()
    assert rows == ["pid", str(os.getpid())]  # ran in this process


def test_repair_removes_only_this_flows_staging_leftovers(tmp_path: Path) -> None:
    """A partition ``sales@2026`` never removes the live staging folder of ``sales@2026-01``."""
    staging = tmp_path / ".staging"
    for name in ("sales@2026-4242-abc_12", "sales@2026-old_style", "sales@2026-01-4242-xyz"):
        (staging / name).mkdir(parents=True)
    removed = {Path(p).name for p in repair(str(tmp_path), "sales@2026")}
    assert removed == {"sales@2026-4242-abc_12", "sales@2026-old_style"}
    assert [p.name for p in staging.iterdir()] == ["sales@2026-01-4242-xyz"]


SLOW = '''
import time

from dataflows import Flow

from dataflows_factory import Factory

factory = Factory("slow", store="data")


def crawl():
    for number in range(30):
        time.sleep(0.1)
        yield {"n": number}


@factory.flow()
def crawling():
    return Flow(crawl())
'''


def test_an_interrupted_run_in_threads_never_publishes_even_after_it_returned(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A step in a thread cannot be stopped where it stands: once its run was interrupted, it
    streams on but may not publish, even after run() returned."""
    (tmp_path / "slow.py").write_text(SLOW)
    factory = load_factory(str(tmp_path / "slow.py"))
    monkeypatch.setenv("DFF_WORKERS", "thread")
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        report = run(factory, show_progress=False)
    finally:
        timer.cancel()
    assert report.interrupted == "SIGINT" and not report.ok
    assert report.results["crawling"].status == "interrupted"
    time.sleep(3.5)  # the thread has streamed its 30 rows by now, and reached its publish
    assert not (tmp_path / "data" / "slow" / "crawling").exists()
    again = run(factory, show_progress=False)  # a new run of the same process publishes
    assert again.ok and again.results["crawling"].rows == {"res_1": 30}
