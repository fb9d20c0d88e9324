"""Scale-out: a 10-partition flow of 1M rows on `dff run --jobs 1/2` and on two Celery workers.

Generates (once, seeded) ``benchmarks/.data/scale_out/fleet/``: a factory whose flow
``trips`` has 10 partitions of 100k rows each (typed load, a computed field, a filter), and
a downstream flow reading the merged dataset. Every run starts from an empty store, so
nothing is skipped; wall time covers all partitions, the merge and the downstream flow.

The Celery run reuses the test deployment (``tests/airflow/celery_deployment.py``): a
private AIRFLOW_HOME, a fresh PostgreSQL metadata database, Redis as broker, two
``airflow celery worker`` processes (concurrency 1 each: 2 cores) in their own folders, and
a moto S3 server on loopback as the only shared store. Its time is the DAG run's, from the
scheduler's start of the run to its end (metadata database), so Airflow's start-up is not
counted but scheduling, task start-up and S3 transfers are.

    .nox/airflow/bin/python benchmarks/scale_out.py [--rows 1000000] [--skip-celery] [--write]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / ".data" / "scale_out"
RESULTS = HERE / "results" / "scale_out.md"
PARTS = 10

FACTORY = '''\
from dataflows import Flow, add_computed_field, filter_rows, load

from dataflows_factory import Factory

factory = Factory("fleet")


@factory.flow(partitions={partitions!r})
def trips(partition):
    return Flow(
        load(f"raw/{{partition}}.csv", name="trips"),
        add_computed_field([dict(target=dict(name="cost", type="number"),
                                 operation=lambda row: row["km"] * 42 / 100)], resources="trips"),
        filter_rows(lambda row: row["km"] > 0),
    )


@factory.flow()
def summary(trips):
    return Flow(trips)
'''


def generate(rows: int) -> Path:
    """The fleet project with ``rows`` rows over 10 partitions; reused when already there."""
    project = DATA / f"fleet_{rows}"
    if (project / "factory.py").exists():
        return project
    staging = Path(tempfile.mkdtemp(dir=DATA.parent if DATA.parent.exists() else None))
    (staging / "raw").mkdir(parents=True)
    rng = random.Random(8)
    names = [f"depot-{n:02d}" for n in range(PARTS)]
    for name in names:
        with open(staging / "raw" / f"{name}.csv", "w") as handle:
            handle.write("depot,trip,driver,day,km\n")
            for i in range(rows // PARTS):
                handle.write(f"{name},{i},d{rng.randrange(500)},2026-01-{1 + i % 28:02d},"
                             f"{rng.randrange(1, 90000) / 100}\n")
    (staging / "factory.py").write_text(FACTORY.format(partitions=names))
    DATA.mkdir(parents=True, exist_ok=True)
    staging.rename(project)
    return project


def local(project: Path, jobs: int) -> float:
    """Wall seconds of ``dff run --jobs N`` into an empty store, in a fresh process."""
    with tempfile.TemporaryDirectory() as store:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "dataflows_factory", "run", str(project / "factory.py"),
                        "--jobs", str(jobs), "--store", store, "--no-progress"], check=True,
                       stdout=subprocess.DEVNULL)
        return time.perf_counter() - start


def celery(project: Path) -> float:
    """Seconds of one DAG run of the fleet factory on the two-worker Celery deployment."""
    home = Path(tempfile.mkdtemp(prefix="dff-bench-airflow-"))
    db = f"dff_bench_{secrets.token_hex(4)}"
    (home / "dags").mkdir()
    api_port = _free_port()
    os.environ.update({
        "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://postgres@127.0.0.1:5432/{db}",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32), "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port), "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5", "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
    })
    sys.path.insert(0, str(HERE.parent / "tests" / "airflow"))
    from airflow_support import airflow_cli, pg_execute
    from celery_deployment import DAG_SOURCE, celery_deployment, s3_server

    pg_execute(f'CREATE DATABASE "{db}"')
    try:
        airflow_cli("db", "migrate", timeout=300)
        bundle = home / "bundle"
        shutil.copytree(project, bundle / "fleet", ignore=shutil.ignore_patterns("data", "__pycache__"))
        (bundle / "scale_out.py").write_text(
            DAG_SOURCE.format(project="fleet", dag_id="scale_out", store="s3://lake/bench"))
        with s3_server() as endpoint, celery_deployment(home, db, bundle, endpoint, home) as cluster:
            cluster.wait_for_api()
            cluster.wait_for_dag("scale_out")
            run_id = cluster.trigger("scale_out")
            state = cluster.wait_for_run("scale_out", run_id, timeout=1200)
            if state != "success":
                raise SystemExit(f"the Celery run ended {state}: {cluster.task_states('scale_out', run_id)}")
            [(seconds, hosts)] = cluster.query(
                "SELECT extract(epoch FROM end_date - start_date), (SELECT count(DISTINCT hostname) "
                "FROM task_instance WHERE run_id = %s) FROM dag_run WHERE run_id = %s", (run_id, run_id))
            assert hosts == 2, f"{hosts} worker(s) ran tasks"
            return float(seconds)
    finally:
        pg_execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        shutil.rmtree(home, ignore_errors=True)


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--skip-celery", action="store_true")
    parser.add_argument("--write", action="store_true", help=f"write {RESULTS.relative_to(HERE.parent)}")
    args = parser.parse_args()
    project = generate(args.rows)
    load_before = os.getloadavg()
    timings: dict[str, float] = {}
    for jobs in (1, 2):
        timings[f"dff run --jobs {jobs}"] = local(project, jobs)
        print(f"dff run --jobs {jobs}: {timings[f'dff run --jobs {jobs}']:.1f} s", flush=True)
    if not args.skip_celery:
        timings["Airflow CeleryExecutor, 2 workers, S3 store"] = celery(project)
    lines = [f"| {what} | {seconds:.1f} | {args.rows / seconds:,.0f} |" for what, seconds in timings.items()]
    report = "\n".join([
        f"Measured {date.today()} on {platform.machine()}: {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, load average before "
        f"{' / '.join(f'{v:.2f}' for v in load_before)} (1/5/15 min), after "
        f"{' / '.join(f'{v:.2f}' for v in os.getloadavg())}.",
        "", f"{args.rows:,} rows in {PARTS} partitions, one run each from an empty store.", "",
        "| run | wall time (s) | rows/s |", "|---|---|---|", *lines, ""])
    print(report)
    if args.write:
        command = " ".join(["benchmarks/scale_out.py", *sys.argv[1:]])
        RESULTS.write_text(f"# Scale-out benchmark\n\n`{command}`\n\n{report}")


if __name__ == "__main__":
    main()
