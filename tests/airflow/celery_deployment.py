"""A distributed Airflow deployment: CeleryExecutor, Redis broker, two workers, an S3 store.

Used by ``test_airflow_celery.py`` and by ``benchmarks/scale_out.py``. The scheduler,
dag-processor and api-server share the session's AIRFLOW_HOME; each Celery worker gets its
own folder holding its own copy of the DAG bundle (DAG file + factory + raw data), its own
log folder and its own host name, as on separate machines. Datasets travel only through the
S3-compatible server (moto, on loopback); the credentials reach the workers as environment
variables and never appear in a URL, a log line or an assertion message.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

from airflow_cluster import AirflowCluster
from airflow_support import PG_ADMIN, pg_execute
from loopback import require_port

from dataflows_factory import Store

KEY, SECRET = "AKIDCELERYTEST", "c3l3ry-s3cr3t-Pa55"
BUCKET = "lake"
REDIS = ("127.0.0.1", 6379)
WORKERS = ("dff-worker-a", "dff-worker-b")

DAG_SOURCE = '''\
from pathlib import Path

from dataflows_factory.airflow_provider import build_dag

# Each machine resolves the factory inside its own copy of the DAG bundle.
dag = build_dag(Path(__file__).parent / {project!r} / "factory.py", dag_id={dag_id!r},
                store={store!r})
'''


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def s3_server() -> Iterator[str]:
    """A moto S3 server on a free loopback port with bucket ``lake``; yields its endpoint."""
    import boto3
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=KEY, aws_secret_access_key=SECRET,
                     region_name="us-east-1").create_bucket(Bucket=BUCKET)
        yield endpoint
    finally:
        server.stop()


def s3_env(endpoint: str) -> dict[str, str]:
    """What a worker needs to reach the store: botocore (so s3fs) reads these variables."""
    return {"AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_ENDPOINT_URL": endpoint,
            "AWS_DEFAULT_REGION": "us-east-1"}


def s3_store(url: str, endpoint: str) -> Store:
    """The same store, seen from this (client) process with explicit options."""
    return Store(url, key=KEY, secret=SECRET, client_kwargs={"endpoint_url": endpoint},
                 skip_instance_cache=True)


@contextlib.contextmanager
def celery_deployment(home: Path, metadata_db: str, bundle: Path, endpoint: str, root: Path,
                      *, concurrency: int = 1) -> Iterator[AirflowCluster]:
    """Start api-server, scheduler, dag-processor and two Celery workers; stop them all after.

    ``bundle`` is the DAG bundle (a folder with DAG files and the projects they build):
    it is copied into the DAGs folder of the scheduler side and into each worker's folder.
    Redis and PostgreSQL must be running: a missing one fails, it does not skip.
    """
    require_port(*REDIS, "Redis (the Celery broker)")
    require_port(PG_ADMIN["host"], PG_ADMIN["port"], "PostgreSQL (metadata and Celery results)")
    token = secrets.token_hex(4)
    results_db = f"dff_celery_results_{token}"
    pg_execute(f'CREATE DATABASE "{results_db}"')
    pg = f"{PG_ADMIN['user']}@{PG_ADMIN['host']}:{PG_ADMIN['port']}"
    cluster = AirflowCluster(home, metadata_db, env={
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CELERY__BROKER_URL": f"redis://{REDIS[0]}:{REDIS[1]}/0",
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql+psycopg2://{pg}/{results_db}",
        # Other developers may share this Redis: a queue of our own keeps tasks apart.
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": f"dff-{token}",
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(concurrency),
        "AIRFLOW__CORE__PARALLELISM": "8",
    })
    dags = Path(cluster.env["AIRFLOW__CORE__DAGS_FOLDER"])
    shutil.copytree(bundle, dags, dirs_exist_ok=True)
    try:
        for name in WORKERS:
            folder = root / name
            shutil.copytree(bundle, folder / "dags")
            (folder / "logs").mkdir()
            # A second machine has another host name: the task instances record it.
            (folder / "dff_worker_identity.py").write_text(f"def hostname():\n    return {name!r}\n")
            cluster.add(name, ["celery", "worker", "--celery-hostname", f"{name}@%h", "--queues",
                               f"dff-{token}", "--concurrency", str(concurrency), "--skip-serve-logs"],
                        cwd=folder, env={
                            **s3_env(endpoint),
                            "PYTHONPATH": str(folder),
                            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "dff_worker_identity.hostname",
                            "AIRFLOW__CORE__DAGS_FOLDER": str(folder / "dags"),
                            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(folder / "logs"),
                            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                        })
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        pg_execute(f'DROP DATABASE IF EXISTS "{results_db}" WITH (FORCE)')


def hostnames(cluster: AirflowCluster, dag_id: str, run_id: str) -> dict[str, int]:
    """How many task instances of the run each host executed (from the metadata database)."""
    rows = cluster.query("SELECT hostname, count(*) FROM task_instance WHERE dag_id = %s "
                         "AND run_id = %s GROUP BY hostname", (dag_id, run_id))
    return {str(host): int(count) for host, count in rows}


def leaks(folder: Path, secret: str = SECRET) -> list[str]:
    """Files below ``folder`` that contain ``secret`` (names only, never the content)."""
    return [str(p) for p in folder.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]

