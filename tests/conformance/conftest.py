"""Fixtures of the conformance suite: each engine's session setup, and runs cached per session.

A run is one engine on one factory, in a private copy of the factory's project with a fresh
store; every test of that pair reads the same run. The local runner's run on another copy
is the reference.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .cases import Case
from .engines import ENGINES, AirflowDriver, Outcome

AIRFLOW_TESTS = Path(__file__).resolve().parents[1] / "airflow"

PREFECT_API_AT_START: str | None = None
if ENGINES["prefect"].installed():
    # Before Prefect is imported: no telemetry, no UI build (as tests/prefect/conftest.py).
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_UI_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    from prefect.settings import PREFECT_API_URL

    PREFECT_API_AT_START = PREFECT_API_URL.value()


@pytest.fixture(scope="session")
def outcome(request: pytest.FixtureRequest,
            tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, Case], Outcome]:
    """``outcome(engine, case)``: the engine's run of the case's factory, run once per session.

    ``outcome("reference", case)`` is the local runner's run that the engines are compared with.
    """
    runs: dict[tuple[str, str], Outcome | Exception] = {}

    def get(engine: str, case: Case) -> Outcome:
        if (engine, case.name) not in runs:
            kind = ENGINES["local" if engine == "reference" else engine]
            folder = tmp_path_factory.mktemp(f"{engine}-{case.name}")
            try:
                setup = request.getfixturevalue(kind.fixture) if kind.fixture else None
                runs[engine, case.name] = kind(setup).outcome(case.project(folder), folder / "store")
            except Exception as error:  # a run that broke fails each of its tests, but runs once
                runs[engine, case.name] = error
        found = runs[engine, case.name]
        if isinstance(found, Exception):
            raise found
        return found

    return get


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Prefect test API (a real local server on SQLite) for the suite; results to a private folder.

    When tests/prefect's session harness already serves this process (the prefect session
    runs both folders), its server is used: starting a second one costs 20 s.
    """
    from prefect.settings import PREFECT_API_URL, PREFECT_LOCAL_STORAGE_PATH, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    if PREFECT_API_URL.value() != PREFECT_API_AT_START:
        yield str(PREFECT_API_URL.value())
        return
    storage = tmp_path_factory.mktemp("prefect-results")
    with temporary_settings({PREFECT_LOCAL_STORAGE_PATH: str(storage)}), \
            prefect_test_harness(server_startup_timeout=180):
        yield str(PREFECT_API_URL.value())


def _airflow_support() -> Any:
    """tests/airflow/airflow_support.py (PostgreSQL helpers; it imports no Airflow), loaded once."""
    if "airflow_support" not in sys.modules:
        spec = importlib.util.spec_from_file_location("airflow_support", AIRFLOW_TESTS / "airflow_support.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["airflow_support"] = module
        spec.loader.exec_module(module)
    return sys.modules["airflow_support"]


@pytest.fixture(scope="session")
def airflow_driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowDriver]:
    """The Airflow engine's process, with a private AIRFLOW_HOME and DAGs folder and a fresh
    metadata database in the machine's PostgreSQL (as tests/airflow uses), migrated once and
    dropped after the session. A missing PostgreSQL fails loudly."""
    support = _airflow_support()
    home = tmp_path_factory.mktemp("airflow-home")
    (home / "dags").mkdir()
    database = f"dff_conformance_{secrets.token_hex(4)}"
    admin = support.PG_ADMIN
    env = {name: value for name, value in os.environ.items() if not name.startswith("AIRFLOW")}
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN":
            f"postgresql+psycopg2://{admin['user']}@{admin['host']}:{admin['port']}/{database}",
    })
    support.pg_execute(f'CREATE DATABASE "{database}"')
    try:
        done = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"airflow db migrate:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        driver = AirflowDriver(env)
        try:
            yield driver
        finally:
            driver.close()
    finally:
        support.pg_execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
