"""Helpers for the suite: the flows' CLI, a DAG run with its task log, XComs, stored datasets.

Nothing here imports ``dataflows`` (this environment has none) nor Airflow at import time.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from airflow_support import pg_execute

from dataflows_factory.store import Store

Dataset = tuple[dict[str, int], str]
"""A published dataset as every suite compares it: rows per resource, and its content hash."""


def flows_cli(python: str, *args: str, cwd: Path) -> str:
    """``dff ARGS`` run by the flows' interpreter (the only one that can import a factory)."""
    done = subprocess.run([python, "-m", "dataflows_factory", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120)
    if done.returncode:
        raise AssertionError(f"dff {' '.join(args)} exited {done.returncode}:\n{done.stderr[-3000:]}")
    return done.stdout


def local_run(python: str, cwd: Path, store: Path, *select: str) -> subprocess.Popen[str]:
    """The local runner over the factory in ``cwd``, started now; :func:`local_datasets` reads it."""
    options = [part for name in select for part in ("--select", name)]
    return subprocess.Popen([python, "-m", "dataflows_factory", "run", "factory.py", "--store", str(store),
                             "--json", "--no-progress", "--jobs", "1", *options], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def local_datasets(process: subprocess.Popen[str]) -> dict[str, Dataset]:
    """``{unit: (rows, content_hash)}`` from the local run's JSON report; it must have succeeded."""
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err[-3000:]
    return {unit: (step["rows"], step["content_hash"]) for unit, step in json.loads(out)["steps"].items()}


def run_logged(dag: Any) -> tuple[Any, str]:
    """``dag.test()``, and every line the tasks logged (dag.test runs them in this process)."""
    import structlog.testing

    # Airflow's task loggers are structlog's: capture their events, exceptions included.
    with structlog.testing.capture_logs() as events:
        run = dag.test()
    return run, "\n".join(" ".join(str(value) for value in event.values()) for event in events)


def task_states(run: Any) -> dict[str, tuple[str, int]]:
    """``{task id (with [map index] for a mapped one): (state, attempts)}``."""
    return {ti.task_id + (f"[{ti.map_index}]" if ti.map_index >= 0 else ""): (ti.state, ti.try_number)
            for ti in run.get_task_instances()}


def xcoms(db: str, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
    """Each task's XCom (its StepResult as a dict), keyed like :func:`task_states`."""
    rows = pg_execute("SELECT task_id, map_index, value FROM xcom WHERE dag_id = %s AND run_id = %s "
                      "AND key = 'return_value'", (dag_id, run_id), dbname=db)
    return {task + (f"[{index}]" if index >= 0 else ""): value for task, index, value in rows}


def stored(store: Path, factory: str, names: list[str]) -> dict[str, Dataset]:
    """``{name: (rows, content_hash)}`` read from the descriptors in ``store``, as
    ``conformance.datasets.stored`` reads them (which imports dataflows: not here)."""
    found = {}
    for name in names:
        descriptor = Store(str(store)).read_descriptor(factory, name)
        assert descriptor is not None, f"no dataset for {name!r} in {store}"
        found[name] = ({r["name"]: r["count_of_rows"] for r in descriptor["resources"]},
                       descriptor["dff"]["content_hash"])
    return found
