"""Credentials, whatever the shape of the URL-like string carrying them, never reach the CLI's
output (with or without ``--debug``), logs, descriptors, manifests or results."""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from pathlib import Path

import pytest
import sqlalchemy
from _dff import dff
from click.testing import CliRunner
from loopback import require_port
from services import PG_URL

from dataflows_factory.cli import main

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


# Each secret has a core no output may contain; the shapes are the three (a scheme
# typo, a raw ``@`` in the password, ``?password=``) and more of tests/test_secrets.py.
CORES = {name: f"K{name.replace('_', '')}x{uuid.uuid4().hex[:6]}" for name in (
    "typo", "raw_at", "query", "libpq", "bearer", "escaped", "logged", "descriptor", "store")}

SHAPES_FACTORY = '''
import json
import logging

from dataflows import Flow, load, update_package, update_resource
from dataflows_factory import Factory
from dataflows_factory.processors.sql import to_sql

factory = Factory("shapes", store="data")
SECRET = {cores!r}


def fail_with(message):
    def step(rows):
        for row in rows:
            raise ValueError(message)
            yield row
    return step


@factory.flow()
def typo():
    # The scheme misses its colon: SQLAlchemy cannot parse it, and says so with the URL.
    return Flow(load("people.csv"), to_sql({{"t": "people"}},
                engine="postgresql+psycopg2//etl:" + SECRET["typo"] + "@127.0.0.1/test"))


@factory.flow()
def raw_at():
    # A raw @ in the password; nothing listens on port 1, so connecting fails.
    return Flow(load("people.csv"), to_sql({{"t": "people"}},
                engine="postgresql+psycopg2://etl:p@" + SECRET["raw_at"] + "@127.0.0.1:1/test"))


@factory.flow()
def query():
    url = "https://files.example.com/x.csv?user=u&password=" + SECRET["query"]
    logging.getLogger("somelib").warning("fetching %s", url)
    return Flow(load("people.csv"), fail_with("cannot open " + url))


@factory.flow()
def libpq():
    return Flow(load("people.csv"), fail_with(
        "invalid dsn: host=db user=etl password='se cret" + SECRET["libpq"] + "' dbname=x"))


@factory.flow()
def bearer():
    return Flow(load("people.csv"), fail_with(
        "401 for {{'Authorization': 'Bearer " + SECRET["bearer"] + "'}}"))


@factory.flow()
def escaped():
    # A traceback stored as JSON and quoted in a message: URL inside JSON-escaped quotes.
    stored = json.dumps({{"traceback": 'engine="mysql://u:' + SECRET["escaped"] + '@db/x"\\n'}})
    return Flow(load("people.csv"), fail_with("remote task failed: " + stored))


def log_a_chained_error(rows):
    try:
        try:
            raise OSError("connect s3://KEY:" + SECRET["logged"] + "@bucket/x")
        except OSError as cause:
            raise RuntimeError("retrying s3://KEY:" + SECRET["logged"] + "@bucket/x") from cause
    except RuntimeError:
        logging.getLogger("dataflows_factory.user").exception("upload failed, retrying")
    yield from rows


@factory.flow()
def logged():
    return Flow(load("people.csv"), log_a_chained_error)


@factory.flow()
def descriptor():
    return Flow(load("people.csv", name="people"),
                update_package(source="https://u:" + SECRET["descriptor"] + "@h.example/people.csv",
                               notes="host=db password=" + SECRET["descriptor"]),
                update_resource("people", **{{"dpp:streamedFrom":
                                              "s3://KEY:" + SECRET["descriptor"] + "@b/p.csv"}}))
'''

BROKEN_FACTORY = '''
from dataflows_factory import Factory

factory = Factory("broken")
try:
    raise OSError("cannot reach postgresql://etl:{core}@db/x")
except OSError as cause:
    raise ValueError("bad engine postgresql+psycopg2//etl:{core}@db/x") from cause
'''

FAILING = {"typo", "raw_at", "query", "libpq", "bearer", "escaped"}


def test_no_shape_of_credential_leaks_from_a_run(tmp_path: Path) -> None:
    """Flows failing, logging and publishing with many credential shapes, run by the real
    ``dff run`` with and without ``--debug``: no secret in any output or stored file."""
    (tmp_path / "people.csv").write_text("id,name\n1,ada\n")
    (tmp_path / "factory.py").write_text(SHAPES_FACTORY.format(cores=CORES))
    (tmp_path / "broken.py").write_text(BROKEN_FACTORY.format(core=CORES["store"]))
    done = dff("run", "factory.py", "--no-progress", "--json", cwd=tmp_path)
    debug = dff("--debug", "run", "factory.py", "--no-progress", "--force", cwd=tmp_path)
    # A factory that fails to import goes through the same error handler; in-process here
    # (CliRunner) because starting the CLI costs seconds on a loaded machine.
    with contextlib.chdir(tmp_path):
        broken = CliRunner().invoke(main, ["--debug", "run", "broken.py", "--no-progress"])

    steps = json.loads(done.stdout)["steps"]
    assert {name for name, step in steps.items() if step["status"] == "failed"} == FAILING
    assert done.returncode == debug.returncode == 1
    assert done.stderr.count("error: flow") == len(FAILING)
    # --debug adds the failed flows' tracebacks to the one the logged exception carries.
    assert debug.stderr.count("Traceback") >= done.stderr.count("Traceback") + len(FAILING)
    assert "upload failed, retrying" in done.stderr and "RuntimeError" in done.stderr
    assert "cannot use engine 'postgresql+psycopg2//***@127.0.0.1/test'" in done.stderr
    assert "password=***" in done.stderr
    assert broken.exit_code == 2 and "Traceback" in broken.stderr
    assert "postgresql+psycopg2//***@db/x" in broken.stderr  # the shape stays readable
    stored = {p: p.read_text(errors="replace") for p in (tmp_path / "data").rglob("*") if p.is_file()}
    assert len([p for p in stored if p.parent.name == "_runs"]) == 2
    published = json.loads((tmp_path / "data/shapes/descriptor/datapackage.json").read_text())
    assert published["source"] == "https://***@h.example/people.csv"
    outputs = {"--json stdout": done.stdout, "stderr": done.stderr,
               "--debug stdout": debug.stdout, "--debug stderr": debug.stderr,
               "import error": broken.output,
               **{str(path): text for path, text in stored.items()}}
    leaks = [(where, name) for where, text in outputs.items() for name, core in CORES.items()
             if core in text]
    assert leaks == []
