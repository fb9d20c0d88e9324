"""Airflow tests share a private AIRFLOW_HOME and a fresh PostgreSQL metadata database.

Airflow reads its configuration when it is first imported, so this module sets it before
any test module imports Airflow. The database is created on 127.0.0.1:5432 only when a
test needs it, and dropped at the end; a missing PostgreSQL fails those tests loudly.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from airflow_support import PG_ADMIN, metadata_database

HOME = Path(tempfile.mkdtemp(prefix="dff-airflow-"))
DAGS = HOME / "dags"
DB_NAME = f"dff_airflow_{secrets.token_hex(4)}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


API_PORT = _free_port()
DAGS.mkdir()
os.environ.update({
    "AIRFLOW_HOME": str(HOME),
    "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
    "AIRFLOW__CORE__PARALLELISM": "4",  # 2 shared cores: a few task processes at most
    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN":
        f"postgresql+psycopg2://{PG_ADMIN['user']}@{PG_ADMIN['host']}:{PG_ADMIN['port']}/{DB_NAME}",
    # Every component signs or checks the task JWTs: they must share one secret.
    "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
    "AIRFLOW__API__HOST": "127.0.0.1",
    "AIRFLOW__API__PORT": str(API_PORT),
    "AIRFLOW__API__WORKERS": "1",
    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{API_PORT}/execution/",
    "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(_free_port()),
    "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
    "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
})


@pytest.fixture(scope="session", autouse=True)
def _airflow_home() -> Iterator[Path]:
    """Remove the private AIRFLOW_HOME after the session."""
    yield HOME
    shutil.rmtree(HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def airflow_db() -> Iterator[str]:
    """A fresh, migrated metadata database, dropped after the session."""
    with metadata_database(DB_NAME) as name:
        yield name
