"""OpenLineage events from the local runner and the step executor: real client, real
transports (file, HTTP on loopback), every event checked against the OpenLineage schemas."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from lineage_support import (
    Receiver,
    by_job,
    clear_lineage_config,
    file_transport,
    read_events,
    validate_event,
)
from shop import sales_factory

from dataflows_factory import load_factory, run
from dataflows_factory.lineage import ParentRun, dataset_id, enabled, factory_run, run_uuid
from dataflows_factory.lineage import _emit as lineage_emit

# The module's shared fixture runs once: its tests stay on one xdist worker (--dist loadgroup).
pytestmark = pytest.mark.xdist_group("lineage")

FLOWS = ("countries", "cities", "key_metrics", "publish")


@pytest.fixture
def no_lineage_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No OpenLineage configuration from the machine: no variables, no openlineage.yml."""
    clear_lineage_config(monkeypatch, tmp_path / "home")


def _dataset(event: dict[str, Any], side: str) -> list[tuple[str, str]]:
    return [(d["namespace"], d["name"]) for d in event[side]]


def test_file_transport_world_events(world_file: Path, tmp_path: Path, no_lineage_env: None,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Every flow of the world factory gets a valid START and COMPLETE under the factory run,
    with its inputs (files, upstream datasets) and its output's schema, rows, bytes and hash."""
    log_file = tmp_path / "events.jsonl"
    for key, value in file_transport(log_file).items():
        monkeypatch.setenv(key, value)
    report = run(str(world_file), jobs=2, show_progress=False)
    assert report.ok
    events = read_events(log_file)
    for event in events:
        validate_event(event)
    jobs = by_job(events)
    assert set(jobs) == {"world", *(f"world.{flow}" for flow in FLOWS)}
    parent = factory_run("world", report.run_id)
    assert [e["eventType"] for e in jobs["world"]] == ["START", "COMPLETE"]
    assert {e["run"]["runId"] for e in jobs["world"]} == {parent.run_id}
    data = world_file.parent / "data" / "world"
    raw = world_file.parent / "raw"
    for flow in FLOWS:
        start, complete = jobs[f"world.{flow}"]
        assert (start["eventType"], complete["eventType"]) == ("START", "COMPLETE")
        assert start["run"]["runId"] == complete["run"]["runId"]
        assert start["job"]["namespace"] == "dataflows-factory/world"
        facet = complete["run"]["facets"]["parent"]
        assert (facet["job"]["name"], facet["run"]["runId"]) == ("world", parent.run_id)
        assert _dataset(complete, "outputs") == [("file", str(data / flow))]
        result = report.results[flow]
        output = complete["outputs"][0]
        assert output["outputFacets"]["outputStatistics"]["rowCount"] == result.total_rows
        assert output["outputFacets"]["outputStatistics"]["size"] == result.bytes > 0
        assert output["facets"]["version"]["datasetVersion"] == result.content_hash
        assert output["facets"]["dataflowsFactory"]["contentHash"] == result.content_hash
        assert [f["name"] for f in output["facets"]["schema"]["fields"]] == [
            f["name"] for f in next(iter(result.schema.values()))["fields"]]
    metrics = jobs["world.key_metrics"][1]
    assert sorted(_dataset(metrics, "inputs")) == [("file", str(data / "cities")),
                                                    ("file", str(data / "countries"))]
    assert _dataset(jobs["world.countries"][0], "inputs") == [("file", str(raw / "countries.csv"))]
    assert _dataset(jobs["world.publish"][1], "inputs") == [("file", str(raw / "sources.csv"))]


def test_http_transport_and_skipped_flows(world_file: Path, no_lineage_env: None,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Over HTTP every event arrives valid; a second run's unchanged flows still START and
    COMPLETE, with status ``skipped`` and the dataset version they kept."""
    with Receiver() as receiver:
        monkeypatch.setenv("OPENLINEAGE_URL", receiver.url)
        first = run(str(world_file), jobs=2, show_progress=False)
        count = len(receiver.events)
        second = run(str(world_file), jobs=2, show_progress=False)
    assert first.ok and second.ok
    assert set(receiver.paths) == {"/api/v1/lineage"}
    assert count == len(receiver.events) - count == 2 * (len(FLOWS) + 1)
    for event in receiver.events:
        validate_event(event)
    again = by_job(receiver.events[count:])
    for flow in FLOWS:
        start, complete = again[f"world.{flow}"]
        assert (start["eventType"], complete["eventType"]) == ("START", "COMPLETE")
        assert complete["run"]["facets"]["dataflowsFactory"]["status"] == "skipped"
        assert (complete["outputs"][0]["facets"]["version"]["datasetVersion"]
                == first.results[flow].content_hash)


def test_an_orchestrators_parent_replaces_the_local_run(
        world_file: Path, tmp_path: Path, no_lineage_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Given a parent (a group task's run), the flows point at it and its root, and the local
    run emits no run of its own."""
    log_file = tmp_path / "events.jsonl"
    for key, value in file_transport(log_file).items():
        monkeypatch.setenv(key, value)
    root = ParentRun("airflow", "world_dag", run_uuid("dag run"))
    task = ParentRun("airflow", "world_dag.group", run_uuid("task run"), root=root)
    assert run(str(world_file), select="countries,cities", jobs=2, show_progress=False,
               lineage_parent=ParentRun.from_dict(json.loads(json.dumps(task.to_dict())))).ok
    events = read_events(log_file)
    for event in events:
        validate_event(event)
    assert set(by_job(events)) == {"world.countries", "world.cities"}
    for event in events:
        facet = event["run"]["facets"]["parent"]
        assert (facet["job"]["name"], facet["run"]["runId"]) == (task.job, task.run_id)
        assert (facet["root"]["job"]["name"], facet["root"]["run"]["runId"]) == (root.job, root.run_id)


_FAILING = '''
from dataflows import Flow, load
from dataflows_factory import Factory

factory = Factory("bad", store="data")

def explode(row):
    raise ValueError("boom at " + str(row["i"]))

@factory.flow()
def numbers():
    """Fails on its first row."""
    return Flow([{"i": 1}], explode)

@factory.flow()
def remote():
    """Loads from a URL with a password in it; nothing listens there."""
    return Flow(load("http://etl:s3cr3t-pass@127.0.0.1:{port}/x.csv?token=tok3n-value", name="x"))
'''


@pytest.fixture(scope="module")
def failed_cli_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[dict[str, Any]]]:
    """``dff run`` of a factory whose two flows fail: (its stderr, the events it emitted)."""
    folder = tmp_path_factory.mktemp("bad")
    with socket.socket() as probe:  # a port where nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (folder / "factory.py").write_text(_FAILING.replace("{port}", str(port)))
    log_file = folder / "events.jsonl"
    env = {key: value for key, value in os.environ.items() if not key.startswith("OPENLINEAGE")}
    env.update(file_transport(log_file), COLUMNS="300", HOME=str(folder))
    done = subprocess.run([sys.executable, "-m", "dataflows_factory", "run", "--no-progress"],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    return done.stderr, read_events(log_file)


def test_a_failing_flow_fails_with_the_cli_error_line(
        failed_cli_run: tuple[str, list[dict[str, Any]]]) -> None:
    """A failed flow's FAIL event carries exactly the one-line error ``dff run`` prints, and
    the factory run fails too."""
    stderr, events = failed_cli_run
    for event in events:
        validate_event(event)
    jobs = by_job(events)
    start, fail = jobs["bad.numbers"]
    assert (start["eventType"], fail["eventType"]) == ("START", "FAIL")
    message = fail["run"]["facets"]["errorMessage"]["message"]
    assert "boom at 1" in message
    assert f"error: {message}" in stderr.splitlines()
    assert fail["run"]["facets"]["errorMessage"]["programmingLanguage"] == "python"
    assert [e["eventType"] for e in jobs["bad"]] == ["START", "FAIL"]


def test_no_secret_of_a_url_reaches_an_event(
        failed_cli_run: tuple[str, list[dict[str, Any]]]) -> None:
    """A source URL's password and token appear in no event; its input dataset is named by
    scheme, host and path only."""
    _stderr, events = failed_cli_run
    text = json.dumps(events)
    assert "s3cr3t-pass" not in text and "tok3n-value" not in text
    start, fail = by_job(events)["bad.remote"]
    assert fail["eventType"] == "FAIL"
    (namespace, name), = _dataset(start, "inputs")
    assert namespace.startswith("http://127.0.0.1:") and name == "/x.csv"


def test_partitions_are_runs_of_their_flow_and_the_merge_reads_them(
        tmp_path: Path, no_lineage_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each partition is a run of job ``shop.sales`` writing its part; the merge's run reads
    the parts and writes the flow's dataset."""
    log_file = tmp_path / "events.jsonl"
    for key, value in file_transport(log_file).items():
        monkeypatch.setenv(key, value)
    factory = sales_factory(tmp_path)
    assert run(factory, jobs=2, show_progress=False).ok
    events = read_events(log_file)
    for event in events:
        validate_event(event)
    completes = [e for e in by_job(events)["shop.sales"] if e["eventType"] == "COMPLETE"]
    parts = {e["run"]["facets"]["dataflowsFactory"].get("partition"): e for e in completes}
    assert set(parts) == {"raw/apac.csv", "raw/eu.csv", "raw/us.csv", None}
    part_names = sorted(_dataset(parts[key], "outputs")[0][1] for key in parts if key)
    assert all("/shop/sales@" in name for name in part_names)
    assert sorted(name for _, name in _dataset(parts[None], "inputs")) == part_names
    assert _dataset(parts[None], "outputs") == [("file", str(tmp_path / "data" / "shop" / "sales"))]
    assert len({e["run"]["runId"] for e in completes}) == 4


def test_a_receiver_that_is_down_never_fails_the_run(
        world_file: Path, no_lineage_env: None, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """With nothing listening at OPENLINEAGE_URL the run succeeds, and the failure is a
    warning given once per process, not once per event."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__TYPE", "http")
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__URL", f"http://127.0.0.1:{port}")
    # The client's default retries take ~10 s per refused event; the pause after the first
    # failure is what keeps the other steps fast, but the test need not wait for the first.
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__RETRY", '{"total": 0, "connect": 0, "read": 0}')
    monkeypatch.setenv("DFF_WORKERS", "thread")  # one process: exactly one warning
    monkeypatch.setattr(lineage_emit, "_warned", False)  # as in a fresh process
    caplog.set_level(logging.WARNING, logger="dataflows_factory.lineage")
    report = run(str(world_file), jobs=1, show_progress=False)
    assert report.ok
    warnings = [r for r in caplog.records if r.name == "dataflows_factory.lineage"]
    assert len(warnings) == 1 and "the flows are not affected" in warnings[0].getMessage()


_SWITCHED_OFF = '''
import os, sys
from dataflows_factory import load_factory
from dataflows_factory.adapters.step import run_step
factory = load_factory(sys.argv[1])
run_step(factory, "countries")                         # not configured
os.environ["OPENLINEAGE_URL"] = sys.argv[2]            # configured, but ...
os.environ["OPENLINEAGE_DISABLED"] = "true"            # ... disabled the standard way
run_step(factory, "cities")
del os.environ["OPENLINEAGE_DISABLED"]
os.environ["DFF_LINEAGE_EMIT"] = "false"               # ... or suppressed for an engine
run_step(factory, "key_metrics")
print("openlineage" in sys.modules)
'''


def test_unconfigured_or_switched_off_imports_and_sends_nothing(world_file: Path, tmp_path: Path) -> None:
    """Not configured, disabled (OPENLINEAGE_DISABLED) or suppressed (DFF_LINEAGE_EMIT=false),
    steps run without importing openlineage, and a configured receiver gets nothing."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OPENLINEAGE", "DFF_LINEAGE"))}
    with Receiver() as receiver:
        done = subprocess.run([sys.executable, "-c", _SWITCHED_OFF, str(world_file), receiver.url],
                              env={**clean, "HOME": str(tmp_path)}, cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False"]
    assert receiver.events == []


def test_enabled_follows_the_standard_configuration(
        tmp_path: Path, no_lineage_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """enabled() is true for OPENLINEAGE_URL, a transport variable, OPENLINEAGE_CONFIG or an
    openlineage.yml in the working folder, and false otherwise."""
    monkeypatch.chdir(tmp_path)
    assert not enabled()
    (tmp_path / "openlineage.yml").write_text("transport:\n  type: console\n")
    assert enabled()
    (tmp_path / "openlineage.yml").unlink()
    monkeypatch.setenv("OPENLINEAGE_CONFIG", str(tmp_path / "missing.yml"))
    assert not enabled()
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__TYPE", "console")
    assert enabled()
    monkeypatch.setenv("OPENLINEAGE_DISABLED", "true")
    assert not enabled()


def test_dataset_names_follow_the_naming_spec() -> None:
    """Local paths are ``file`` + path; object stores ``scheme://bucket`` + key; other URLs
    ``scheme://host:port`` + path; no user, password or query survives."""
    assert dataset_id("/data/world/cities") == ("file", "/data/world/cities")
    assert dataset_id("file:///data/x") == ("file", "/data/x")
    assert dataset_id("s3://KEY:SECRET@bucket/world/cities") == ("s3://bucket", "world/cities")
    assert dataset_id("gs://b/a/b.csv") == ("gs://b", "a/b.csv")
    assert dataset_id("https://u:pw@example.org:8443/x.csv?sig=abc") == (
        "https://example.org:8443", "/x.csv")
    assert dataset_id("postgresql+psycopg2://u:pw@db:5432/shop", table="orders") == (
        "postgres://db:5432", "shop.orders")


def test_run_ids_are_deterministic_uuids() -> None:
    """The same parts give the same UUID; different attempts give different ones."""
    first = run_uuid("world", "20261130T060000-ab12cd", "cities", "", "1")
    assert first == run_uuid("world", "20261130T060000-ab12cd", "cities", "", "1")
    assert first != run_uuid("world", "20261130T060000-ab12cd", "cities", "", "2")
    assert len(first) == 36 and first[14] == "5"  # a version-5 UUID


def test_step_inputs_and_outputs_read_no_rows(world_file: Path) -> None:
    """step_inputs/step_outputs (what the Airflow operator reports) name the datasets from
    the factory alone, before anything ran."""
    from dataflows_factory.lineage import step_inputs, step_outputs

    factory = load_factory(str(world_file))
    data = world_file.parent / "data" / "world"
    inputs = step_inputs(factory, "key_metrics")
    assert sorted(d.name for d in inputs) == [str(data / "cities"), str(data / "countries")]
    assert [d.name for d in step_inputs(factory, "cities")] == [str(world_file.parent / "raw" / "cities.csv")]
    (output,) = step_outputs(factory, "key_metrics")
    assert (output.namespace, output.name) == ("file", str(data / "key_metrics"))
    assert not data.exists()
