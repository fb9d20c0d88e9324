"""Airflow without dataflows: a private AIRFLOW_HOME, a fresh PostgreSQL metadata database,
and the flows' interpreter (``DFF_FLOWS_PYTHON``, a virtualenv that has dataflows).

Airflow reads its configuration when it is first imported, so this module sets it before
any test module imports Airflow. The PostgreSQL helpers are the Airflow suite's own.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# The Airflow suite's helpers import neither Airflow nor dataflows: share them.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "airflow"))

from airflow_support import PG_ADMIN, metadata_database

HOME = Path(tempfile.mkdtemp(prefix="dff-airflow-external-"))
DAGS = HOME / "dags"
DB_NAME = f"dff_airflow_ext_{secrets.token_hex(4)}"
DAGS.mkdir()
os.environ.update({
    "AIRFLOW_HOME": str(HOME),
    "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN":
        f"postgresql+psycopg2://{PG_ADMIN['user']}@{PG_ADMIN['host']}:{PG_ADMIN['port']}/{DB_NAME}",
    "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
})


@pytest.fixture(scope="session", autouse=True)
def _airflow_home() -> Iterator[Path]:
    """Remove the private AIRFLOW_HOME after the session."""
    yield HOME
    shutil.rmtree(HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def flows_python() -> str:
    """The flows' interpreter; missing is a failure, not a skip: the suite is about it."""
    python = os.environ.get("DFF_FLOWS_PYTHON", "")
    if not (os.path.isfile(python) and os.access(python, os.X_OK)):
        pytest.fail(f"DFF_FLOWS_PYTHON={python!r} is not an interpreter: set it to the python of a "
                    "virtualenv with dataflows-factory installed (`nox -s airflow_external` does)")
    return python


@pytest.fixture(scope="session")
def airflow_db() -> Iterator[str]:
    """A fresh, migrated metadata database, dropped after the session."""
    with metadata_database(DB_NAME) as name:
        yield name
