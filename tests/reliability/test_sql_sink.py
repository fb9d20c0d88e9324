"""``to_sql`` against the machine's real PostgreSQL: rewrite, append, update, and injection."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy
from loopback import require_port
from services import PG_URL

from dataflows_factory import Factory
from dataflows_factory.adapters.step import run_step
from dataflows_factory.errors import InvalidTableNameError

FACTORY = '''
from dataflows import Flow, load, set_primary_key
from dataflows_factory import Factory
from dataflows_factory.processors.sql import to_sql

factory = Factory("sqlsink", store="data")


@factory.flow(params={{"mode": "rewrite", "table": "people"}})
def people(mode="rewrite", table="people"):
    return Flow(load("people.csv", name="people"), set_primary_key(["id"]),
                to_sql({{table: "people"}}, engine="{url}", db_schema="{schema}", mode=mode))
'''


@pytest.fixture
def schema() -> Iterator[str]:
    """A fresh database schema in the real PostgreSQL, dropped afterwards."""
    require_port("127.0.0.1", 5432, "PostgreSQL")
    name = "dff_" + uuid.uuid4().hex[:10]
    engine = sqlalchemy.create_engine(PG_URL)
    with engine.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{name}"')
    yield name
    with engine.begin() as connection:
        connection.exec_driver_sql(f'DROP SCHEMA "{name}" CASCADE')
    engine.dispose()


def _rows(schema: str, table: str = "people") -> list[tuple[object, ...]]:
    engine = sqlalchemy.create_engine(PG_URL)
    with engine.connect() as connection:
        result = connection.execute(sqlalchemy.text(
            f'SELECT id, name FROM "{schema}"."{table}" ORDER BY id')).fetchall()
    engine.dispose()
    return [tuple(row) for row in result]


def _factory(folder: Path, schema: str, rows: str) -> Factory:
    (folder / "people.csv").write_text("id,name\n" + rows)
    (folder / "factory.py").write_text(FACTORY.format(url=PG_URL, schema=schema))
    from dataflows_factory import load_factory

    return load_factory(str(folder / "factory.py"))


def _run(factory: Factory, mode: str, table: str = "people") -> None:
    spec = factory.flows["people"]
    factory._flows["people"] = type(spec)(**{**spec.__dict__, "params": {"mode": mode, "table": table}})
    run_step(factory, "people", force=True)


def test_rewrite_append_update(tmp_path: Path, schema: str) -> None:
    """rewrite replaces the table, append adds rows, update upserts on the primary key."""
    factory = _factory(tmp_path, schema, "1,ada\n2,bob\n")
    _run(factory, "rewrite")
    assert _rows(schema) == [(1, "ada"), (2, "bob")]
    _run(factory, "rewrite")
    assert _rows(schema) == [(1, "ada"), (2, "bob")]
    (tmp_path / "people.csv").write_text("id,name\n3,cy\n")
    _run(factory, "append")
    assert _rows(schema) == [(1, "ada"), (2, "bob"), (3, "cy")]
    (tmp_path / "people.csv").write_text("id,name\n2,BOB\n4,dee\n")
    _run(factory, "update")
    assert _rows(schema) == [(1, "ada"), (2, "BOB"), (3, "cy"), (4, "dee")]


@pytest.mark.parametrize("table", [
    'people"; DROP TABLE canary; --', "people; DROP TABLE canary", "canary--", "a.b",
    "people' OR '1'='1", "x" * 64, "",
])
def test_injection_is_refused_before_connecting(tmp_path: Path, schema: str, table: str) -> None:
    """A table name with SQL metacharacters fails the flow; nothing in the database changes."""
    engine = sqlalchemy.create_engine(PG_URL)
    with engine.begin() as connection:
        connection.exec_driver_sql(f'CREATE TABLE "{schema}".canary (x int)')
        connection.exec_driver_sql(f'INSERT INTO "{schema}".canary VALUES (7)')
    factory = _factory(tmp_path, schema, "1,ada\n")
    with pytest.raises(InvalidTableNameError, match="not a plain SQL identifier"):
        _run(factory, "rewrite", table=table)
    with engine.connect() as connection:
        tables = connection.exec_driver_sql(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,)
        ).fetchall()
        assert [t[0] for t in tables] == ["canary"]
        assert connection.exec_driver_sql(f'SELECT x FROM "{schema}".canary').fetchall() == [(7,)]
    engine.dispose()


def test_values_with_sql_are_stored_verbatim(tmp_path: Path, schema: str) -> None:
    """Values that look like SQL are data: bound as parameters, stored as they are."""
    factory = _factory(tmp_path, schema, "1,\"Robert'); DROP TABLE people;--\"\n")
    _run(factory, "rewrite")
    assert _rows(schema) == [(1, "Robert'); DROP TABLE people;--")]
