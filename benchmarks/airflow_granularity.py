"""Task granularity on a real Airflow: a task per flow vs. a task per group vs. one task.

Writes a factory of 40 small flows in 4 layers (tags ``layer0``..``layer3``; each flow of a
layer reads one flow of the layer before), compiles it (``dff compile``) and builds three
DAGs from the plan: ``group_by="flow"`` (40 tasks), ``"tag"`` (4 tasks) and ``"factory"``
(1 task), each writing to its own store with ``force=True`` so every round runs every flow.
A real deployment (api-server, scheduler with LocalExecutor, dag-processor) on a PostgreSQL
database of its own (``dff_bench_granularity``, created and dropped here; test databases are
never touched) runs them one at a time, rounds interleaved. The time of a run is its
``dag_run`` row's ``end_date - queued_at``: from the trigger to the run's success, without
the CLI's own start-up.

    .nox/airflow/bin/python benchmarks/airflow_granularity.py [--rounds 3] [--write]
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "airflow_granularity.md"
DB_NAME = "dff_bench_granularity"
MODES = {"flow": "a task per flow", "tag": "a task per tag (4 groups)", "factory": "one task"}
LAYERS, PER_LAYER, ROWS = 4, 10, 100


def write_factory(folder: Path) -> Path:
    """40 flows: 10 sources, then 3 layers of 10 flows each filtering one flow of the layer before."""
    (folder / "raw").mkdir(parents=True)
    lines = ["from dataflows import Flow, filter_rows, load", "", "from dataflows_factory import Factory",
             "", 'factory = Factory("granularity", store="data")', ""]
    for layer in range(LAYERS):
        for i in range(PER_LAYER):
            name, up = f"l{layer}_{i}", f"l{layer - 1}_{i}"
            if layer == 0:
                rows = "".join(f"{n},{n * 7 % 13}\n" for n in range(ROWS))
                (folder / "raw" / f"{name}.csv").write_text("id,value\n" + rows)
                params, body = "", f'Flow(load("raw/{name}.csv", name="{name}"))'
            else:
                params, body = up, f'Flow({up}, filter_rows(lambda row: row["value"] != {layer}))'
            lines += [f'@factory.flow(tags=["layer{layer}"])', f"def {name}({params}):",
                      f"    return {body}", ""]
    path = folder / "factory.py"
    path.write_text("\n".join(lines))
    return path


def configure(home: Path) -> None:
    """This process's environment: every Airflow component started from here inherits it."""
    def free_port() -> int:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            return int(probe.getsockname()[1])

    api_port = free_port()
    (home / "dags").mkdir(parents=True)
    os.environ.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",  # as in the tests: a few task processes on 2 cores
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://postgres@127.0.0.1:5432/{DB_NAME}",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--write", action="store_true", help=f"write {RESULTS.name}")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="dff-granularity-"))
    configure(folder / "home")
    # The deployment helpers of the Airflow tests (they import no Airflow themselves).
    sys.path.insert(0, str(ROOT / "tests" / "airflow"))
    from airflow_cluster import AirflowCluster
    from airflow_support import airflow_cli, pg_execute

    factory = write_factory(folder / "factory")
    plan = folder / "granularity.plan.json"
    subprocess.run([sys.executable, "-m", "dataflows_factory", "compile", str(factory), "-o", str(plan)],
                   check=True, capture_output=True)
    for mode in MODES:
        (folder / "home" / "dags" / f"gran_{mode}.py").write_text(
            "from dataflows_factory.airflow_provider import build_dag\n"
            f"dag = build_dag(plan={str(plan)!r}, dag_id='gran_{mode}', group_by={mode!r}, "
            f"store={str(folder / 'store' / mode)!r}, force=True)\n")
    pg_execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    pg_execute(f'CREATE DATABASE "{DB_NAME}"')
    cluster = AirflowCluster(folder / "home", DB_NAME)
    load_before = os.getloadavg()
    seconds: dict[str, list[float]] = {mode: [] for mode in MODES}
    tasks: dict[str, int] = {}
    try:
        airflow_cli("db", "migrate", timeout=600)
        cluster.start()
        cluster.wait_for_api()
        for mode in MODES:
            cluster.wait_for_dag(f"gran_{mode}")
        for _ in range(args.rounds):
            for mode in MODES:
                seconds[mode].append(timed_run(cluster, f"gran_{mode}"))
                tasks[mode] = len(cluster.query("SELECT 1 FROM task_instance WHERE dag_id = %s "
                                                "GROUP BY task_id", (f"gran_{mode}",)))
                print(mode, f"{seconds[mode][-1]:.1f} s", flush=True)
    finally:
        cluster.stop()
        pg_execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        shutil.rmtree(folder, ignore_errors=True)
    report = render(args.rounds, seconds, tasks, load_before, os.getloadavg())
    print(report)
    if args.write:
        RESULTS.write_text(report)


def timed_run(cluster: object, dag_id: str) -> float:
    """Trigger ``dag_id``, wait for success, and return queued -> end seconds from the dag_run row."""
    run_id = cluster.trigger(dag_id)  # type: ignore[attr-defined]
    state = cluster.wait_for_run(dag_id, run_id, timeout=1800)  # type: ignore[attr-defined]
    if state != "success":
        raise SystemExit(f"run {run_id} of {dag_id} ended {state}")
    (elapsed,) = cluster.query(  # type: ignore[attr-defined]
        "SELECT EXTRACT(EPOCH FROM end_date - queued_at) FROM dag_run WHERE dag_id = %s AND run_id = %s",
        (dag_id, run_id))[0]
    time.sleep(2)  # let the executor's task processes exit before the next run starts
    return float(elapsed)


def render(rounds: int, seconds: dict[str, list[float]], tasks: dict[str, int],
           load_before: tuple[float, float, float], load_after: tuple[float, float, float]) -> str:
    from importlib.metadata import version

    median = {mode: statistics.median(times) for mode, times in seconds.items()}
    return "\n".join([
        "# Airflow task granularity: a task per flow vs. per group vs. one task",
        "",
        f"`python benchmarks/airflow_granularity.py --rounds {rounds}` — Airflow "
        f"{version('apache-airflow-core')}, LocalExecutor (parallelism 4), PostgreSQL, Python "
        f"{platform.python_version()}, {os.cpu_count()} CPUs (shared with other work: load average "
        f"{load_before[0]:.1f} before, {load_after[0]:.1f} after), {platform.machine()}.",
        "",
        f"A factory of {LAYERS * PER_LAYER} small flows ({ROWS}-row sources, then {LAYERS - 1} layers "
        "of filters, one tag per layer), built from one compiled plan into three DAGs, each run "
        "with `force=True` (every flow runs). Time = trigger to DAG-run success "
        "(`dag_run.end_date - queued_at`), rounds interleaved.",
        "",
        "| DAG | tasks | median | rounds (s) | vs. a task per flow |",
        "|---|---:|---:|---|---:|",
        *(f"| {MODES[mode]} | {tasks.get(mode, 0)} | {median[mode]:.1f} s | "
          f"{', '.join(f'{t:.1f}' for t in seconds[mode])} | {median['flow'] / median[mode]:.2f}x |"
          for mode in MODES),
        "",
        "Each task is a process that starts the task runner, imports the factory and `dataflows` "
        "(2-3 s) and reports back to the API server; a group task pays that once for its flows, "
        "then runs them in the local runner's worker pool (dependency order, independent flows "
        "in parallel). Per-flow tasks keep per-flow retries, logs and clearing in Airflow's UI.",
        "",
    ])


if __name__ == "__main__":
    main()
