"""Passwords in SQL engine URLs never reach logs, descriptors, manifests, results or the CLI."""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path

import pytest
import sqlalchemy
from _dff import dff
from loopback import require_port
from services import PG_URL

PASSWORD = "Sup3r-S3cret-" + uuid.uuid4().hex[:6]
# Trust auth accepts any password, so a URL that carries one really connects.
SECRET_URL = PG_URL.replace("postgres@", f"postgres:{PASSWORD}@")

FACTORY = '''
from dataflows import Flow, load, update_package
from dataflows_factory import Factory
from dataflows_factory.processors.sql import to_sql

factory = Factory("secrets", store="data")


@factory.flow()
def to_db():
    return Flow(load("people.csv", name="people"),
                to_sql({{"{table}": "people"}}, engine="{url}"))


@factory.flow(after=["to_db"])
def provenance():
    # Metadata that carries the engine URL (as dataflows' dpp:streamedFrom does for SQL
    # sources) is published with the password masked.
    return Flow(load("people.csv", name="copy"), update_package(source="{url}"))


@factory.flow()
def wrong_db():
    return Flow(load("people.csv", name="people"),
                to_sql({{"t": "people"}}, engine="{bad_url}"))
'''


def test_sql_passwords_never_leak(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Run flows writing, reading and failing on a URL with a password; grep every output."""
    require_port("127.0.0.1", 5432, "PostgreSQL")
    table = "dff_secret_" + uuid.uuid4().hex[:8]
    bad_url = SECRET_URL.rsplit("/", 1)[0] + "/no_such_database_dff"
    (tmp_path / "people.csv").write_text("id,name\n1,ada\n")
    (tmp_path / "factory.py").write_text(FACTORY.format(url=SECRET_URL, table=table, bad_url=bad_url))
    try:
        done = dff("run", "factory.py", "--no-progress", "--json", cwd=tmp_path)
        debug = dff("--debug", "run", "factory.py", "-s", "wrong_db", "--no-progress", cwd=tmp_path)
        caplog.set_level(logging.INFO)
        from dataflows_factory import load_factory
        from dataflows_factory.runner import run

        report = run(load_factory(str(tmp_path / "factory.py")), show_progress=False, jobs=1,
                     force=True)
    finally:
        engine = sqlalchemy.create_engine(PG_URL)
        with engine.begin() as connection:
            connection.exec_driver_sql(f'DROP TABLE IF EXISTS "{table}"')
        engine.dispose()
    steps = json.loads(done.stdout)["steps"]
    assert steps["to_db"]["status"] == steps["provenance"]["status"] == "succeeded"
    assert steps["wrong_db"]["status"] == "failed"
    assert "no_such_database_dff" in steps["wrong_db"]["error"]["text"]
    assert report.results["provenance"].rows == {"copy": 1}
    stored = [p.read_text(errors="replace") for p in (tmp_path / "data").rglob("*") if p.is_file()]
    assert any('"source": "postgresql+psycopg2://***@' in text for text in stored)  # masked, kept
    outputs = [done.stdout, done.stderr, debug.stdout, debug.stderr, caplog.text,
               json.dumps(report.to_dict()), *stored]
    for text in outputs:
        assert PASSWORD not in text
