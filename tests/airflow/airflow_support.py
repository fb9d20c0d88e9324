"""Helpers for the Airflow tests: PostgreSQL, the airflow CLI, DAG files, dataset bytes.

Datasets are read back and compared with ``conformance.datasets.stored``, as in every suite.

Nothing here imports Airflow: conftest configures Airflow before anything does.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

PG_ADMIN: dict[str, Any] = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "test"}


def pg_execute(sql: str, params: tuple[Any, ...] = (), *, dbname: str | None = None) -> list[tuple[Any, ...]]:
    """Run one statement (autocommit) on the machine's PostgreSQL; return its rows."""
    import psycopg2

    connection = psycopg2.connect(**{**PG_ADMIN, "dbname": dbname or PG_ADMIN["dbname"]})
    connection.autocommit = True
    with contextlib.closing(connection), connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall()) if cursor.description else []


def airflow_cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run ``airflow ARGS`` in this test environment; raise with its output if it fails."""
    done = subprocess.run([sys.executable, "-m", "airflow", *args], capture_output=True, text=True,
                          timeout=timeout, env=os.environ.copy())
    if done.returncode:
        raise AssertionError(f"airflow {' '.join(args)} exited {done.returncode}:\n"
                             f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


@contextlib.contextmanager
def metadata_database(name: str) -> Iterator[str]:
    """A fresh PostgreSQL database migrated for Airflow's metadata, dropped afterwards."""
    pg_execute(f'CREATE DATABASE "{name}"')
    try:
        airflow_cli("db", "migrate", timeout=300)
        yield name
    finally:
        if "airflow.settings" in sys.modules:
            sys.modules["airflow.settings"].dispose_orm()
        pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def write_dag(name: str, source: str) -> Path:
    """Write a DAG file into the DAGs folder that every Airflow component of the session reads."""
    path = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]) / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    return path


def folder_bytes(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` with its bytes, to prove a dataset was left untouched."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
