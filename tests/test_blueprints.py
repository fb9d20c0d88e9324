"""`dff init`: named blueprints, and factories guessed from the user's own files, run for real."""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy
from click.testing import CliRunner, Result
from loopback import require_port

from dataflows_factory.blueprints import guess
from dataflows_factory.blueprints.codegen import partitions_code
from dataflows_factory.blueprints.infer import MAX_ROWS, infer_table
from dataflows_factory.blueprints.shapes import flow_name, unique_names
from dataflows_factory.blueprints.sources import Source
from dataflows_factory.cli import main

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "blueprints" / "shop_factory.py.txt"  # not .py: the repository lints it as its own code
PG = "postgresql+psycopg2://postgres@127.0.0.1:5432"
SECRET = "Tr0ub4dor-secret"
KEY, S3_SECRET = "AKIDBLUEPRINT", "bluepr1nt-s3cret"


def dff(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "COLUMNS": "200", **(env or {})}
    return subprocess.run([sys.executable, "-m", "dataflows_factory", *args], cwd=cwd, capture_output=True,
                          text=True, env=environment, timeout=300)


def init(*args: str) -> Result:
    """``dff init ARGS`` in this process (the command as the CLI runs it; flows run in subprocesses)."""
    return CliRunner().invoke(main, ["init", *args], catch_exceptions=False)


def dataset(project: Path, factory: str, flow: str) -> tuple[dict[str, str], int]:
    """A published dataset's field types and row count."""
    descriptor = json.loads((project / "data" / factory / flow / "datapackage.json").read_text())
    resource = descriptor["resources"][0]
    return {f["name"]: f["type"] for f in resource["schema"]["fields"]}, resource["count_of_rows"]


def write_csv(path: Path, header: str, rows: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")


def make_exports(folder: Path) -> None:
    """A shop's exports, as a data engineer finds them: CSV, TSV, JSON, Excel, a stray text file."""
    write_csv(folder / "customers.csv", "id,name,email,country,zip,signed_up,notes",
              [f"{i},Customer {i},c{i}@example.com,{'DE' if i % 2 else 'FR'},{i:05d},"
               f"2025-{1 + i % 12:02d}-15," for i in range(1, 21)])
    for month, amounts in (("01", ["10", "25"]), ("02", ["12.50", "8"]), ("03", ["99.90"])):
        write_csv(folder / "orders" / f"orders_2026-{month}.csv", "order_id,customer_id,placed,amount,status",
                  [f"{int(month) * 100 + n},{n + 1},2026-{month}-0{n + 1},{a},paid"
                   for n, a in enumerate(amounts)])
    write_csv(folder / "orders" / "refunds.csv", "order_id,refunded_on,reason", ["101,2026-01-20,damaged"])
    # The latest export gained a column: the same series, another shape.
    write_csv(folder / "orders_latest.csv", "order_id,customer_id,placed,amount,status,coupon",
              ["400,3,2026-04-02,20.00,paid,SPRING"])
    (folder / "products.tsv").write_text(
        "sku\ttitle\tprice\tlaunched\np-1\tKettle\t29.90\t25/12/2025\np-2\tToaster\t45\t03/01/2026\n")
    (folder / "stores.json").write_text(json.dumps([
        {"code": "ber", "city": "Berlin", "opened": "2019-05-01", "staff": 12},
        {"code": "par", "city": "Paris", "opened": "2021-09-15", "staff": None}]))
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    for row in (("sku", "warehouse", "units"), ("p-1", "north", 40), ("p-2", "south", 7)):
        sheet.append(row)
    book.save(folder / "inventory.xlsx")
    # Past load's 1,000-row sample an integer column holds a word: the guess must not be integer.
    rows = [f"2026-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}Z,sensor-{i % 3},{'n/a' if i == 1200 else i}"
            for i in range(1500)]
    rows[9] += ",extra"  # one row wider than the header
    write_csv(folder / "events.csv", "at,sensor,value", rows)
    (folder / "README.txt").write_text("exported nightly\n")


@pytest.fixture
def database() -> Iterator[str]:
    """A fresh PostgreSQL database on the machine's server, dropped afterwards."""
    require_port("127.0.0.1", 5432, "PostgreSQL")
    name = "dff_bp_" + uuid.uuid4().hex[:10]
    admin = sqlalchemy.create_engine(f"{PG}/test", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield name
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
    admin.dispose()


def test_init_from_a_folder_to_postgresql_then_run(tmp_path: Path, database: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """`dff init demo --from demo/exports/ --to postgresql://...` writes the expected, lint-clean
    factory (no password in it); `dff run` works first time: datasets typed as guessed, tables in
    PostgreSQL."""
    project = tmp_path / "demo"
    make_exports(project / "exports")
    url = f"postgresql://postgres:{SECRET}@127.0.0.1:5432/{database}"
    monkeypatch.chdir(tmp_path)
    made = init("demo", "--from", "demo/exports/", "--to", url)
    assert made.exit_code == 0, made.output
    code = (project / "factory.py").read_text()
    readme = (project / "README.md").read_text()
    assert SECRET not in code + readme + made.output
    assert "README.txt: skipped, not a table file" in made.output
    assert "orders_latest.csv: a flow of its own: its columns differ (has coupon) from those of " \
        f"{project / 'exports' / 'orders' / 'orders_2026-01.csv'}" in made.output
    assert "refunds.csv: a flow of its own" not in made.output  # just another table
    assert f"export DFF_SQL_URL='postgresql+psycopg2://***@127.0.0.1:5432/{database}'" in made.output
    assert code == GOLDEN.read_text()
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff, "ruff is needed to check the generated code"
    linted = subprocess.run([ruff, "check", "--config", str(HERE.parent / "pyproject.toml"), "factory.py"],
                            cwd=project, capture_output=True, text=True)
    assert linted.returncode == 0, linted.stdout
    assert "| zip | string | **set explicitly**: integers with leading zeros" in readme

    ran = dff("run", "--no-progress", cwd=project, env={"DFF_SQL_URL": url.replace("://", "+psycopg2://")})
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert dataset(project, "demo", "customers") == ({
        "id": "integer", "name": "string", "email": "string", "country": "string", "zip": "string",
        "signed_up": "date", "notes": "string"}, 20)
    assert dataset(project, "demo", "orders") == ({
        "order_id": "integer", "customer_id": "integer", "placed": "date", "amount": "number",
        "status": "string"}, 5)
    assert dataset(project, "demo", "refunds")[1] == 1
    assert dataset(project, "demo", "orders_latest")[0]["coupon"] == "string"
    assert dataset(project, "demo", "products")[0]["launched"] == "date"
    assert dataset(project, "demo", "stores")[0]["staff"] == "integer"
    assert dataset(project, "demo", "inventory") == ({"sku": "string", "warehouse": "string",
                                                      "units": "integer"}, 2)
    assert dataset(project, "demo", "events") == ({"at": "datetime", "sensor": "string", "value": "string"},
                                                  1500)
    engine = sqlalchemy.create_engine(f"{PG}/{database}")
    with engine.connect() as connection:
        count = connection.exec_driver_sql("SELECT count(*), min(zip) FROM customers").one()
        amount = connection.exec_driver_sql("SELECT sum(amount) FROM orders").scalar()
        tables = {r[0] for r in connection.exec_driver_sql(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")}
    engine.dispose()
    assert tuple(count) == (20, "00001")
    assert float(amount) == pytest.approx(155.4)
    assert tables == {"customers", "orders", "orders_latest", "refunds", "products", "stores", "inventory",
                      "events"}


def test_sources_from_http_and_s3_into_an_s3_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """URLs stay URLs (read through tabulator, as load reads them); --to s3:// becomes the store."""
    import boto3
    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    moto.start()
    endpoint = f"http://127.0.0.1:{port}"
    env = {"AWS_ENDPOINT_URL": endpoint, "S3_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": KEY,
           "AWS_SECRET_ACCESS_KEY": S3_SECRET, "AWS_DEFAULT_REGION": "us-east-1"}
    s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=KEY, aws_secret_access_key=S3_SECRET,
                      region_name="us-east-1")
    s3.create_bucket(Bucket="lake")
    s3.put_object(Bucket="lake", Key="in/cities.csv",
                  Body=b"city,population\nBerlin,3600000\nParis,2100000\n")
    www = tmp_path / "www"
    write_csv(www / "rates.csv", "currency,rate,day", ["EUR,1,2026-01-02", "USD,1.08,2026-01-02"])

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(www)))
    threading.Thread(target=web.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{web.server_address[1]}"
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    try:
        made = init("remote", "--from", f"{base}/rates.csv", "--from", "s3://lake/in/cities.csv",
                    "--to", "s3://lake/published")
        assert made.exit_code == 0, made.output
        code = (tmp_path / "remote" / "factory.py").read_text()
        assert f'load("{base}/rates.csv", name="rates")' in code
        assert 'Factory("remote", store="s3://lake/published")' in code
        missing = init("gone", "--from", f"{base}/missing.csv")
        assert missing.exit_code == 2 and not (tmp_path / "gone").exists()
        assert f"error: SourceError: {base}/missing.csv: cannot read it: 404" in missing.output
        ran = dff("run", "--no-progress", cwd=tmp_path / "remote", env=env)
        assert ran.returncode == 0, ran.stdout + ran.stderr
        descriptor = json.loads(s3.get_object(Bucket="lake", Key="published/remote/rates/datapackage.json")
                                ["Body"].read())
        fields = {f["name"]: f["type"] for f in descriptor["resources"][0]["schema"]["fields"]}
        assert fields == {"currency": "string", "rate": "number", "day": "date"}
        assert descriptor["resources"][0]["count_of_rows"] == 2
    finally:
        web.shutdown()
        moto.stop()


@pytest.mark.parametrize("blueprint", ["files-to-sql", "partitioned-daily"])
def test_named_blueprints_run_as_they_are(tmp_path: Path, blueprint: str, database: str) -> None:
    """files-to-sql writes its tables (SQLite by default, PostgreSQL with DFF_SQL_URL);
    partitioned-daily runs a partition per day and the rollup over them."""
    project = tmp_path / "project"
    assert init(str(project), "--blueprint", blueprint).exit_code == 0
    if blueprint == "files-to-sql":
        ran = dff("run", "--no-progress", cwd=project, env={"DFF_SQL_URL": f"{PG}/{database}"})
        assert ran.returncode == 0, ran.stdout + ran.stderr
        engine = sqlalchemy.create_engine(f"{PG}/{database}")
        with engine.connect() as connection:
            counts = [connection.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar()
                      for t in ("customers", "orders")]
        engine.dispose()
        assert counts == [4, 5]
        assert dataset(project, "files_to_sql", "orders")[0]["placed"] == "date"
    else:
        ran = dff("run", "--no-progress", cwd=project)
        assert ran.returncode == 0, ran.stdout + ran.stderr
        assert "events[2026-01-02]" in ran.stdout
        assert dataset(project, "daily", "daily_totals") == ({"amount": "number", "day": "date",
                                                              "events": "integer"}, 3)


def test_list_and_the_rules_of_the_command(tmp_path: Path) -> None:
    """--list names every blueprint; an existing factory.py is never overwritten without --force,
    nor the project's own README.md at all; --blueprint and --from do not combine; --to needs --from."""
    runner = CliRunner()
    listed = init("--list")
    assert listed.exit_code == 0
    assert [line.split()[0] for line in listed.output.splitlines()] == ["files-to-sql", "hello",
                                                                         "partitioned-daily"]
    with runner.isolated_filesystem(temp_dir=tmp_path) as here:
        write_csv(Path(here, "raw", "a.csv"), "x,y", ["1,2"])
        Path(here, "factory.py").write_text("# mine\n")
        kept = runner.invoke(main, ["init", ".", "--from", "raw/a.csv"])
        assert kept.exit_code == 2 and "factory.py already exist" in kept.output
        assert Path(here, "factory.py").read_text() == "# mine\n" and not Path(here, "README.md").exists()
        forced = runner.invoke(main, ["init", ".", "--from", "raw/a.csv", "--force"])
        assert forced.exit_code == 0, forced.output
        assert 'load("raw/a.csv", name="a")' in Path(here, "factory.py").read_text()
        Path(here, "README.md").write_text("# my data\n")  # the project's own: kept
        Path(here, "factory.py").unlink()
        beside = runner.invoke(main, ["init", ".", "--from", "raw/a.csv"])
        assert beside.exit_code == 0, beside.output
        assert Path(here, "README.md").read_text() == "# my data\n"
        assert "BLUEPRINT.md says what was guessed" in Path(here, "factory.py").read_text()
        assert "`dff init --from` guessed" in Path(here, "BLUEPRINT.md").read_text()
        both = runner.invoke(main, ["init", "x", "--from", "raw/a.csv", "--blueprint", "hello"])
        assert both.exit_code == 2 and "do not combine" in both.output
        alone = runner.invoke(main, ["init", "x", "--to", "postgresql://db/x"])
        assert alone.exit_code == 2 and "--to, --name and --copy go with --from" in alone.output
        unknown = runner.invoke(main, ["init", "x", "--blueprint", "nope"])
        assert unknown.exit_code == 2 and "no blueprint named 'nope'" in unknown.output


def test_unreadable_sources_name_the_source_and_the_reason_and_write_nothing(tmp_path: Path) -> None:
    """Missing, empty, binary, unknown format, a glob that matches nothing: exit 2, one line, no files."""
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "junk.csv").write_bytes(bytes(range(256)) * 20)
    (tmp_path / "data.dat").write_text("a,b\n1,2\n")
    write_csv(tmp_path / "good.csv", "a,b", ["1,2"])
    cases = {
        "missing.csv": "missing.csv: no such file or folder",
        "empty.csv": "empty.csv: cannot read it: it is empty",
        "junk.csv": "junk.csv: cannot read it: not text in a known encoding",
        "data.dat": "data.dat: unknown format '.dat'",
        "nothing/*.csv": "nothing/*.csv: matches no table file",
        "ftp://host/x.csv": "ftp://host/x.csv: ftp:// is not supported",
    }
    for source, message in cases.items():
        result = init(str(tmp_path / "out"), "--from", str(tmp_path / "good.csv"), "--from",
                      source if "://" in source else str(tmp_path / source))
        assert result.exit_code == 2, (source, result.output)
        assert message in result.output, (source, result.output)
        assert not (tmp_path / "out").exists()


def test_inference_judges_loads_guess(tmp_path: Path) -> None:
    """Certain columns keep load's guess; uncertain ones are set explicitly with the reason."""
    rows = [f"{i},{'2024-01-05' if i % 2 else '05/01/2024'},03/04/2024,{'x' if i == 7 else i},,"
            f"{20240101 + i % 9},{i}.5" for i in range(30)]
    write_csv(tmp_path / "t.csv", "id,mixed_dates,ambiguous,mostly_int,empty,compact,price", rows)
    table = infer_table(Source(str(tmp_path / "t.csv"), "t.csv", tmp_path / "t.csv"))
    columns = {c.name: c for c in table.columns}
    assert (columns["id"].type, columns["id"].why) == ("integer", "")
    assert (columns["price"].type, columns["price"].why) == ("number", "")
    assert columns["mixed_dates"].type == "string" and "dates in 2 formats" in columns["mixed_dates"].why
    assert (columns["ambiguous"].type, columns["ambiguous"].format) == ("date", "%d/%m/%Y")
    assert "day/month and month/day" in columns["ambiguous"].why
    assert columns["mostly_int"].type == "string" and "mostly integer (29 of 30)" in columns["mostly_int"].why
    assert columns["empty"].type == "string" and columns["empty"].why.startswith("empty in all 30")
    assert columns["compact"].type == "date" and "8-digit numbers" in columns["compact"].why
    assert table.complete and table.rows == 30


def test_a_big_file_is_sampled_not_read(tmp_path: Path) -> None:
    """Past MAX_ROWS rows the file is not read; the guess says it comes from a sample."""
    big = tmp_path / "big.csv"
    with big.open("w") as out:
        out.write("n,label\n")
        out.writelines(f"{i},row {i}\n" for i in range(MAX_ROWS * 3))
    table = infer_table(Source(str(big), "big.csv", big))
    assert table.rows == MAX_ROWS and not table.complete
    assert table.notes == (f"sampled the first {MAX_ROWS:,} rows, not the whole file",)


def test_names_and_partition_patterns(tmp_path: Path) -> None:
    """File stems become safe flow names without clashes; a glob is used only when it matches
    exactly the group's files."""
    assert flow_name("2024 Sales-EU") == "sales_eu_2024"
    assert flow_name("Umsätze März") == "umsatze_marz"
    assert flow_name("2024-01-01") == "t_2024_01_01"
    assert flow_name("class") == "class_data" and flow_name("load") == "load_data"
    assert unique_names(["sales", "sales", "sales_2", "sales"]) == ["sales", "sales_2", "sales_2_2",
                                                                     "sales_3"]
    for name in ("a_1.csv", "a_2.csv", "b.csv"):
        write_csv(tmp_path / "raw" / name, "x", ["1"])
    assert partitions_code(["raw/a_1.csv", "raw/a_2.csv"], tmp_path) == 'files("raw/a_*.csv")'
    assert partitions_code(["raw/a_1.csv", "raw/a_2.csv", "raw/b.csv"], tmp_path) == 'files("raw/*.csv")'
    assert partitions_code(["raw/a_1.csv", "raw/b.csv"], tmp_path) == '["raw/a_1.csv", "raw/b.csv"]'
    blueprint = guess(tmp_path / "p", [str(tmp_path / "raw")], cwd=tmp_path)
    assert [f.name for f in blueprint.flows] == ["raw"]  # one shape, named after its folder
    # Outside the project, files are named by absolute path; --copy brings them in.
    assert f'partitions=files("{tmp_path}/raw/*.csv")' in blueprint.files["factory.py"]
    # A pattern too long for one line keeps the glob, on a line of its own.
    deep = tmp_path / ("d" * 90) / "raw"
    for name in ("a_1.csv", "a_2.csv"):
        write_csv(deep / name, "x", ["1"])
    long = guess(tmp_path / "q", [str(deep)], cwd=tmp_path).files["factory.py"]
    assert f'@factory.flow(\n    partitions=files("{deep}/*.csv"),\n)\ndef a(partition):' in long
    raw = tmp_path / "raw"
    copied = init(str(tmp_path / "p"), "--from", str(raw), "--from", str(raw / "b.csv"), "--copy")
    assert copied.exit_code == 0, copied.output
    assert sorted(p.name for p in (tmp_path / "p" / "raw").iterdir()) == ["a_1.csv", "a_2.csv", "b.csv"]
    assert '@factory.flow(partitions=files("raw/*.csv"))' in (tmp_path / "p" / "factory.py").read_text()
