"""dag.test(): no credential reaches XCom, the task log or anything in Airflow's database."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow_support import pg_execute, write_dag
from leaky import write_leaky_factory

DAG_ID = "dagtest_secrets"
CORE = "Kaf" + uuid.uuid4().hex[:8]  # in every password of the leaky factory; no output may contain it


def test_no_password_in_xcom_task_log_or_database(tmp_path: Path, airflow_db: str,
                                                  capfd: pytest.CaptureFixture[str],
                                                  caplog: pytest.LogCaptureFixture) -> None:
    """A flow failing on password URLs and a flow whose schema and descriptor carry one, run
    by dag.test(): XCom, the task log (printed by dag.test()) and every table show ``***``."""
    write_leaky_factory(tmp_path, name='secrets_af', logger='somelib', core=CORE)
    path = write_dag(DAG_ID, (
        "from dataflows_factory.airflow_provider import build_dag\n"
        f"dag = build_dag({str(tmp_path / 'factory.py')!r}, dag_id={DAG_ID!r}, "
        f"store={str(tmp_path / 'store')!r})\n"))
    bag = DagBag(dag_folder=str(path))
    assert bag.import_errors == {}
    run = bag.dags[DAG_ID].test()
    captured = capfd.readouterr()  # dag.test() prints the task logs
    printed = captured.out + captured.err + caplog.text

    assert {ti.task_id: ti.state for ti in run.get_task_instances()} == {
        "leaky": "failed", "described": "success"}
    xcom = dict(pg_execute("SELECT task_id, value::text FROM xcom WHERE dag_id = %s AND run_id = %s",
                           (DAG_ID, run.run_id), dbname=airflow_db))
    assert "copied with password=***" in xcom["described"]
    assert "cannot connect to postgresql+psycopg2//***@db.example.com/shop" in printed
    assert "connecting to https://***@files.example.com/x" in printed  # another library's record
    assert CORE not in xcom["described"] and CORE not in printed
    tables = [name for (name,) in pg_execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
        dbname=airflow_db)]
    assert "task_instance" in tables
    leaks = [table for table in tables if pg_execute(
        f'SELECT count(*) FROM "{table}" t WHERE t::text LIKE %s', (f"%{CORE}%",),
        dbname=airflow_db)[0][0]]
    assert leaks == []
    published = (tmp_path / "store" / "secrets_af" / "described" / "datapackage.json").read_text()
    assert CORE not in published and "//***@db.example.com" in published
