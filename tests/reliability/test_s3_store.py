"""A remote store on a real S3-compatible server (moto, started on loopback by the test)."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dataflows_factory import load_factory
from dataflows_factory.adapters.step import run_step
from dataflows_factory.runner import run
from dataflows_factory.store import Store

# The module's shared fixture runs once: its tests stay on one xdist worker (--dist loadgroup).
pytestmark = pytest.mark.xdist_group("s3-store")

KEY, SECRET = "AKIDTESTKEY", "s3cr3t-Pa55word"

FACTORY = '''
from dataflows import Flow, load
from dataflows_factory import Factory

factory = Factory("remote")


@factory.flow()
def numbers():
    return Flow(load("numbers.csv", name="numbers"))


@factory.flow()
def doubled(numbers):
    return Flow(numbers)
'''


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on a free loopback port, with a bucket; stopped afterwards."""
    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    import boto3

    boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=KEY, aws_secret_access_key=SECRET,
                 region_name="us-east-1").create_bucket(Bucket="lake")
    yield endpoint
    server.stop()


@pytest.fixture
def remote(tmp_path: Path, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A factory project whose store will be s3://lake/<unique prefix>."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    (tmp_path / "numbers.csv").write_text("n\n1\n2\n3\n")
    (tmp_path / "factory.py").write_text(FACTORY)
    return tmp_path


def _store(prefix: str, endpoint: str) -> Store:
    return Store(f"s3://{KEY}:{SECRET}@lake/{prefix}", client_kwargs={"endpoint_url": endpoint},
                 skip_instance_cache=True)


def test_publish_is_atomic_and_versioned(remote: Path, s3_endpoint: str) -> None:
    """The descriptor is the commit point; old versions go only after the grace period."""
    factory = load_factory(str(remote / "factory.py"))
    store = _store("atomic", s3_endpoint)
    first = run_step(factory, "numbers", store=store)
    assert first.rows == {"numbers": 3}
    descriptor = store.read_descriptor("remote", "numbers")
    assert descriptor is not None
    old_version = descriptor["resources"][0]["path"].split("/")[0]
    (remote / "numbers.csv").write_text("n\n1\n2\n3\n4\n")
    second = run_step(factory, "numbers", store=store)
    assert second.rows == {"numbers": 4}
    listing = {p.rsplit("/", 1)[-1] for p in store.fs.ls("lake/atomic/remote/numbers")}
    assert old_version in listing  # still there for readers of the previous version
    store.remote_grace = 0
    assert store.collect_versions("remote", "numbers") == [old_version]
    assert store.has_files("remote", "numbers", store.read_descriptor("remote", "numbers") or {})
    downstream = run_step(factory, "doubled", store=store)
    assert downstream.rows == {"numbers": 4}


def test_failed_upload_leaves_the_previous_dataset(remote: Path, s3_endpoint: str) -> None:
    """A flow that fails mid-stream publishes nothing: the old descriptor and files stay."""
    factory = load_factory(str(remote / "factory.py"))
    store = _store("failing", s3_endpoint)
    run_step(factory, "numbers", store=store)
    before = store.fs.cat_file("lake/failing/remote/numbers/datapackage.json")
    (remote / "numbers.csv").write_text("n\n1\nnot-a-number\n")
    (remote / "broken.py").write_text(FACTORY.replace(
        'load("numbers.csv", name="numbers")',
        'load("numbers.csv", name="numbers", cast_strategy=load.CAST_TO_STRINGS), '
        'set_type("n", type="integer")').replace("import Flow, load", "import Flow, load, set_type"))
    broken = load_factory(str(remote / "broken.py"))
    with pytest.raises(Exception, match="row 2"):
        run_step(broken, "numbers", store=store)
    assert store.fs.cat_file("lake/failing/remote/numbers/datapackage.json") == before


def test_credentials_in_the_store_url_never_leak(remote: Path, s3_endpoint: str,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    """KEY:SECRET in the store URL reach neither logs, manifests, descriptors, results, nor CLI."""
    url = f"s3://{KEY}:{SECRET}@lake/secret"
    caplog.set_level(logging.DEBUG)
    factory = load_factory(str(remote / "factory.py"))
    report = run(factory, store=url, show_progress=False, jobs=1)
    assert report.ok, report.to_dict()
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("DFF_STORE", None)
    cli = subprocess.run(
        [sys.executable, "-m", "dataflows_factory.cli", "run", "factory.py", "--store", url,
         "--no-progress", "--json", "--force"], cwd=remote, env=env, capture_output=True,
        text=True, check=False, timeout=300)
    assert cli.returncode == 0, cli.stderr
    listed = subprocess.run(
        [sys.executable, "-m", "dataflows_factory.cli", "list", "factory.py", "--store", url],
        cwd=remote, env=env, capture_output=True, text=True, check=False, timeout=300)
    store = _store("secret", s3_endpoint)
    stored = [store.fs.cat_file(p).decode() for p in store.fs.find("lake/secret")]
    plan = factory.plan(store=url).to_json()
    texts = {
        "logs": caplog.text, "report": json.dumps(report.to_dict()), "cli": cli.stdout + cli.stderr,
        "list": listed.stdout + listed.stderr, "store": "\n".join(stored), "plan": plan,
        "results": json.dumps([r.to_dict() for r in report.results.values()]),
    }
    assert len(stored) >= 5  # descriptors, data files and two manifests were really read
    for where, text in texts.items():
        assert SECRET not in text, where
        # botocore's own DEBUG lines show the key id in the signed request; everything at
        # INFO and above, and everything of ours, never does.
        if where == "logs":
            text = "\n".join(r.getMessage() for r in caplog.records
                              if r.levelno >= logging.INFO or r.name.startswith("dataflows"))
        assert KEY not in text, where


def test_partitioned_flow_merges_on_s3(tmp_path: Path, s3_endpoint: str,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Parts and their merge on S3: one version prefix per path, rows as on a local store."""
    from dataflows import Flow

    from dataflows_factory import Factory

    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    factory = Factory("parted", root=tmp_path)

    @factory.flow(partitions=["a", "b", "c"])
    def letters(partition):
        return Flow([{"letter": partition, "n": i} for i in range(3)])

    store = _store("parted", s3_endpoint)
    for value in ("a", "b", "c"):
        run_step(factory, "letters", store=store, partition=value)
    merged = run_step(factory, "letters", store=store)
    assert merged.rows == {"res_1": 9}
    descriptor = store.read_descriptor("parted", "letters")
    assert descriptor is not None
    path = descriptor["resources"][0]["path"]
    assert path.count("v-") == 1 and path.endswith("/res_1.csv")
    local = run_step(factory, "letters", store=tmp_path / "local", partition="a")
    assert local.rows == {"res_1": 3}
    for value in ("b", "c"):
        run_step(factory, "letters", store=tmp_path / "local", partition=value)
    assert run_step(factory, "letters", store=tmp_path / "local").content_hash == merged.content_hash


def _cli(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dataflows_factory.cli", *args], cwd=cwd,
                          env=env, capture_output=True, text=True, check=False, timeout=300)


def _cli_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **extra}
    for name in ("DFF_STORE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        env.pop(name, None)
    return env


def test_every_command_opens_a_store_with_credentials_the_same_way(remote: Path) -> None:
    """run, list, inspect and validate all work on s3://KEY:SECRET@bucket/prefix, and none
    prints the secret."""
    url = f"s3://{KEY}:{SECRET}@lake/commands"
    env = _cli_env(AWS_ENDPOINT_URL=os.environ["AWS_ENDPOINT_URL"], AWS_CONFIG_FILE="/dev/null",
                   AWS_SHARED_CREDENTIALS_FILE="/dev/null", AWS_EC2_METADATA_DISABLED="true")
    done = {
        "run": _cli("run", "factory.py", "--store", url, "--no-progress", cwd=remote, env=env),
        "list": _cli("list", "factory.py", "--store", url, cwd=remote, env=env),
        "inspect": _cli("inspect", "factory.py", "doubled", "--store", url, cwd=remote, env=env),
        "validate": _cli("validate", "factory.py", "--store", url, cwd=remote, env=env),
    }
    for command, outcome in done.items():
        assert outcome.returncode == 0, (command, outcome.stdout, outcome.stderr)
        assert SECRET not in outcome.stdout + outcome.stderr, command
    assert "3 rows" in done["inspect"].stdout
    assert done["validate"].stdout.count("valid") == 2


def test_a_store_without_credentials_is_named_by_every_command(remote: Path) -> None:
    """No credentials anywhere: each command prints one line naming the store, not a bare
    NoCredentialsError, and exits 2 (a usage problem: the store, not a flow)."""
    env = _cli_env(AWS_ENDPOINT_URL=os.environ["AWS_ENDPOINT_URL"], AWS_CONFIG_FILE="/dev/null",
                   AWS_SHARED_CREDENTIALS_FILE="/dev/null", AWS_EC2_METADATA_DISABLED="true")
    url = "s3://lake/nocreds"
    for args in (("run", "factory.py", "--no-progress"), ("list", "factory.py"),
                 ("inspect", "factory.py", "numbers"), ("validate", "factory.py")):
        outcome = _cli(*args, "--store", url, cwd=remote, env=env)
        lines = [line for line in outcome.stderr.splitlines() if line.startswith("error:")]
        assert outcome.returncode == 2, (args, outcome.stderr)
        assert len(lines) == 1 and "Traceback" not in outcome.stderr, outcome.stderr
        assert lines[0].startswith("error: StoreError: store 's3://lake/nocreds': cannot "), lines
        assert "NoCredentialsError: Unable to locate credentials; give the store" in lines[0]
