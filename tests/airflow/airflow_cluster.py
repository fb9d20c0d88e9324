"""A real Airflow deployment as subprocesses: api-server, scheduler (LocalExecutor), dag-processor.

``env`` overrides the configuration of every component (another executor); ``add()``
starts more components, such as Celery workers, each with its own environment and folder.

Each component runs in its own process group so that ``stop()`` can end it together with
the task processes it started, and only those.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from airflow_support import airflow_cli, pg_execute

COMPONENTS = {
    "api-server": ["api-server"],
    "scheduler": ["scheduler"],
    "dag-processor": ["dag-processor"],
}


class AirflowCluster:
    """Start, query and stop the Airflow components of the test session."""

    def __init__(self, home: Path, dbname: str, env: Mapping[str, str] | None = None) -> None:
        self.home = home
        self.dbname = dbname
        self.env = {**os.environ, **(env or {})}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: dict[str, IO[bytes]] = {}

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        for name, args in COMPONENTS.items():
            self.add(name, args)

    def add(self, name: str, args: list[str], env: Mapping[str, str] | None = None,
            cwd: Path | None = None) -> None:
        """Start ``airflow ARGS`` as component ``name``, in its own process group."""
        log = self._logs[name] = open(self.home / f"{name}.out", "wb")  # noqa: SIM115
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "airflow", *args], stdout=log, stderr=subprocess.STDOUT,
            env={**self.env, **(env or {})}, cwd=cwd, start_new_session=True,
        )

    def stop(self) -> None:
        for process in self.processes.values():
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for process in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            # Task processes of the group may outlive their parent: end them all.
            _signal_group(process, signal.SIGKILL)
            process.wait()
        for log in self._logs.values():
            log.close()

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise AssertionError(f"airflow {name} exited {process.returncode}:\n{self.output(name)}")

    def output(self, name: str, tail: int = 4000) -> str:
        return (self.home / f"{name}.out").read_text(errors="replace")[-tail:]

    # -- waiting --------------------------------------------------------------------------

    def wait_until(self, what: str, check: Any, timeout: float, every: float = 2.0) -> Any:
        """Poll ``check()`` until it returns something truthy; fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out after {timeout:.0f}s waiting for {what}\n"
                    + "\n".join(f"--- {n}\n{self.output(n, 2000)}" for n in self.processes)
                )
            time.sleep(every)

    def wait_for_api(self, timeout: float = 180) -> None:
        url = os.environ["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].rstrip("/") + "/health"
        self.wait_until("the API server", lambda: _get(url), timeout)

    def wait_for_dag(self, dag_id: str, timeout: float = 180) -> None:
        self.wait_until(f"DAG {dag_id!r} to be parsed", lambda: self.query(
            "SELECT 1 FROM dag d JOIN serialized_dag s ON s.dag_id = d.dag_id "
            "WHERE d.dag_id = %s AND NOT d.is_paused", (dag_id,)), timeout)

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        """Trigger ``dag_id`` through the ``airflow dags trigger`` CLI; return the run id."""
        args = ["dags", "trigger", dag_id, "--output", "json"]
        if conf:
            args += ["--conf", json.dumps(conf)]
        out = airflow_cli(*args).stdout
        return str(json.loads(out[out.index("[{"):])[0]["dag_run_id"])

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 300) -> str:
        def finished() -> str | None:
            rows = self.query("SELECT state FROM dag_run WHERE dag_id = %s AND run_id = %s",
                              (dag_id, run_id))
            return rows[0][0] if rows and rows[0][0] in ("success", "failed") else None

        return str(self.wait_until(f"run {run_id} of {dag_id!r}", finished, timeout))

    # -- engine state ---------------------------------------------------------------------

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return pg_execute(sql, params, dbname=self.dbname)

    def task_states(self, dag_id: str, run_id: str) -> dict[str, tuple[str, int]]:
        rows = self.query("SELECT task_id, state, try_number FROM task_instance "
                          "WHERE dag_id = %s AND run_id = %s", (dag_id, run_id))
        return {task: (state, tries) for task, state, tries in rows}

    def xcom(self, dag_id: str, run_id: str, task_id: str) -> Any:
        rows = self.query("SELECT value FROM xcom WHERE dag_id = %s AND run_id = %s AND task_id = %s "
                          "AND key = 'return_value'", (dag_id, run_id, task_id))
        value = rows[0][0] if rows else None
        return json.loads(value) if isinstance(value, str) else value

    def task_log(self, dag_id: str, run_id: str, task_id: str, attempt: int) -> str:
        path = (self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
                / f"attempt={attempt}.log")
        return path.read_text(errors="replace")


def _signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)  # the group this component leads (start_new_session)


def _get(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return bool(response.status == 200)
    except OSError:
        return False
