"""One adapter per engine: run a factory file into a fresh store, report what the engine saw.

Each adapter returns an :class:`Outcome` in the same terms whatever the engine: a status per
unit (a flow, ``flow[value]`` for one partition of it), normalised to ``succeeded``,
``skipped``, ``failed`` or ``not_run``; for each failed unit, the text the engine itself
shows for the failure (Airflow: the exception its failure callback receives; Prefect: the
task run's state message; Dagster: the step failure's description); and every dataset the
run left in the store. An engine state with no such name is kept as ``<engine>:<state>``,
so that it shows up as a difference instead of being folded into a known one.

Orchestrators are imported inside the adapters: this module is collected in every session.
"""

from __future__ import annotations

import importlib.metadata
import json
import select
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dataflows_factory import Factory, load_factory

from .datasets import Dataset, published

SUCCEEDED, SKIPPED, FAILED, NOT_RUN = "succeeded", "skipped", "failed", "not_run"
DRIVER = Path(__file__).with_name("airflow_driver.py")


@dataclass(frozen=True)
class Outcome:
    """What one engine made of one factory."""

    ok: bool
    statuses: dict[str, str]
    errors: dict[str, str]
    datasets: dict[str, Dataset] = field(default_factory=dict)
    reported: dict[str, Dataset] = field(default_factory=dict)
    """What the engine's results say each dataset holds, by dataset folder (where it tells)."""
    seconds: float = 0.0


@dataclass(frozen=True)
class Run:
    """An engine's raw answer, before the store is read: overall success, statuses, errors."""

    ok: bool
    statuses: dict[str, str]
    errors: dict[str, str]
    reported: dict[str, Dataset] = field(default_factory=dict)


class Engine:
    """Runs a factory file on one engine; subclasses name the distribution that must be installed."""

    name = ""
    distribution = ""
    fixture: str | None = None
    """A session fixture the engine needs (a server, a metadata database), passed as ``setup``."""

    def __init__(self, setup: Any = None) -> None:
        self.setup = setup

    @classmethod
    def installed(cls) -> bool:
        # The distribution, not find_spec(): with tests/ on sys.path, tests/airflow is a
        # namespace package that find_spec("airflow") finds in every environment.
        try:
            importlib.metadata.distribution(cls.distribution)
        except importlib.metadata.PackageNotFoundError:
            return False
        return True

    def outcome(self, factory_file: Path, store: Path) -> Outcome:
        factory = load_factory(str(factory_file))
        started = time.monotonic()
        answer = self.run(factory, factory_file, store)
        seconds = time.monotonic() - started
        return Outcome(answer.ok, answer.statuses, answer.errors, published(store, factory.name),
                       answer.reported, seconds)

    def run(self, factory: Factory, factory_file: Path, store: Path) -> Run:
        raise NotImplementedError


def units(factory: Factory) -> list[str]:
    """The plan's units in order: each partition's part, then its flow's merge; other flows."""
    found: list[str] = []
    for step in factory.plan().steps:
        found += [f"{step.name}[{value}]" for value in step.partitions]
        found.append(step.name)
    return found


class Local(Engine):
    """The embedded runner: the reference, and (on a second copy) a check that it is deterministic."""

    name = "local"
    distribution = "dataflows-factory"

    def run(self, factory: Factory, factory_file: Path, store: Path) -> Run:
        from dataflows_factory.runner import UPSTREAM_FAILED, run

        report = run(factory, store=str(store), show_progress=False, jobs=2)
        statuses = {unit: NOT_RUN if result.status == UPSTREAM_FAILED else result.status
                    for unit, result in report.results.items()}
        errors = {unit: result.error["text"] for unit, result in report.results.items() if result.error}
        reported = {Path(result.dataset_uri).name: (result.rows, result.content_hash)
                    for result in report.results.values() if result.status == SUCCEEDED}
        return Run(report.ok, statuses, errors, reported)


class AirflowDriver:
    """``airflow_driver.py`` running in its own process: ``run()`` one factory's DAG, get its JSON.

    Airflow reads its configuration once per process, and ``tests/airflow`` configures the
    pytest process for its own metadata database; a process of its own keeps the two apart
    (in any order, and under pytest-xdist), and serving every factory spares an Airflow
    import per factory.
    """

    def __init__(self, env: dict[str, str]) -> None:
        self.log = Path(env["AIRFLOW_HOME"]) / "driver.log"
        self.process = subprocess.Popen([sys.executable, str(DRIVER)], env=env, text=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def run(self, factory_file: Path, store: Path, dag_id: str, timeout: float = 600) -> dict[str, Any]:
        output = store.with_name(f"{store.name}-airflow.json")
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"factory": str(factory_file), "store": str(store),
                                             "dag_id": dag_id, "output": str(output)}) + "\n")
        self.process.stdin.flush()
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        answer = self.process.stdout.readline().strip() if ready else ""
        assert answer == str(output), (f"{DRIVER.name} gave no answer for {dag_id} within {timeout:.0f} s "
                                       f"(exit code {self.process.poll()}); its log ends:\n"
                                       f"{self.log.read_text(errors='replace')[-3000:]}")
        result: dict[str, Any] = json.loads(output.read_text())
        return result

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Airflow(Engine):
    """``dag.test()`` of the factory's DAG (``build_dag``), in the ``airflow_driver`` process."""

    name = "airflow"
    distribution = "apache-airflow"
    fixture = "airflow_driver"

    def run(self, factory: Factory, factory_file: Path, store: Path) -> Run:
        answer = self.setup.run(factory_file, store, f"conformance_{factory.name}")
        statuses, errors = {}, {}
        for task in answer["tasks"]:
            unit = task["flow"] if task["partition"] is None else f"{task['flow']}[{task['partition']}]"
            state = task["state"]
            if state == "success":
                statuses[unit] = task["xcom"]["status"] if task["xcom"] else "airflow:success without XCom"
            else:
                statuses[unit] = {"failed": FAILED, "upstream_failed": NOT_RUN}.get(state, f"airflow:{state}")
            if task["error"] is not None:
                errors[unit] = task["error"]
        return Run(answer["state"] == "success", statuses, errors)


class Prefect(Engine):
    """``build_flow(factory)()`` against the suite's Prefect test API (the ``prefect_server`` fixture)."""

    name = "prefect"
    distribution = "prefect"
    fixture = "prefect_server"

    def run(self, factory: Factory, factory_file: Path, store: Path) -> Run:
        from dataflows_factory.prefect_blocks import FactoryRunError, build_flow

        state = build_flow(factory, store=str(store))(return_state=True)
        not_run: dict[str, str] = {}
        failures: dict[str, BaseException] = {}
        try:
            results = state.result()
        except FactoryRunError as error:
            results, failures, not_run = error.results, error.failures, error.not_run
        statuses = {unit: _field(result, "status") for unit, result in results.items()}
        statuses.update(dict.fromkeys(failures, FAILED))
        statuses.update(dict.fromkeys(not_run, NOT_RUN))
        messages = _failed_task_run_messages(state, set(failures))
        return Run(bool(state.is_completed()), statuses, messages)


def _field(result: Any, name: str) -> Any:
    # build_flow's own result holds dicts; FactoryRunError.results holds StepResults.
    return result[name] if isinstance(result, dict) else getattr(result, name)


def _failed_task_run_messages(state: Any, expected: set[str], timeout: float = 60) -> dict[str, str]:
    """``{task run name: state message}`` of the flow run's failed task runs.

    The server records task run states from events, a moment after the flow run returns:
    read until every failed unit the flow reported has its final state, or fail loudly.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.events.worker import EventsWorker

    EventsWorker.drain_all(timeout=timeout)
    flow_run = FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id]))
    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while True:
            runs = client.read_task_runs(flow_run_filter=flow_run)
            failed = {run.name: run.state.message or "" for run in runs
                      if run.state is not None and run.state.is_failed()}
            if set(failed) >= expected:
                return failed
            assert time.monotonic() < deadline, f"Prefect recorded failed task runs {sorted(failed)}, " \
                                                f"the flow reported {sorted(expected)}"
            time.sleep(0.2)


class Dagster(Engine):
    """``materialize(build_assets(factory))`` in process: each partition of a partitioned asset
    in its own run (the last one merges), then every other asset in one run."""

    name = "dagster"
    distribution = "dagster"

    def run(self, factory: Factory, factory_file: Path, store: Path) -> Run:
        from dagster import AssetKey, DagsterInstance, materialize

        from dataflows_factory.dagster_assets import FactoryResource, build_assets

        assets = build_assets(factory)
        instance = DagsterInstance.ephemeral()
        resources = {"dff": FactoryResource(store=str(store))}
        steps = factory.plan().steps
        runs = []
        for step in steps:
            for value in step.partitions:
                runs.append(materialize(assets, instance=instance, resources=resources, raise_on_error=False,
                                        selection=[AssetKey([factory.name, step.name])], partition_key=value))
        rest = [AssetKey([factory.name, step.name]) for step in steps if not step.partitions]
        if rest:
            runs.append(materialize(assets, instance=instance, resources=resources, raise_on_error=False,
                                    selection=rest))
        statuses, errors = _dagster_events(runs)
        for unit in units(factory):
            statuses.setdefault(unit, NOT_RUN)  # neither materialized nor failed: Dagster skipped it
        return Run(all(run.success for run in runs), statuses, errors)


def _dagster_events(runs: list[Any]) -> tuple[dict[str, str], dict[str, str]]:
    from dagster import DagsterEventType

    statuses: dict[str, str] = {}
    errors: dict[str, str] = {}
    for result in runs:
        for event in result.all_events:
            if event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
                materialization = event.step_materialization_data.materialization
                metadata = {name: value.value for name, value in materialization.metadata.items()}
                flow = event.asset_key.path[-1]
                if "partition" in metadata:
                    statuses[f"{flow}[{metadata['partition']}]"] = metadata["status"]
                    if not str(metadata["merge/status"]).startswith("waiting for"):
                        statuses[flow] = metadata["merge/status"]
                else:
                    statuses[flow] = metadata["status"]
            elif event.event_type == DagsterEventType.STEP_FAILURE:
                data = event.step_failure_data.user_failure_data
                assert data is not None, f"{event.step_key} failed outside a flow: {event.step_failure_data}"
                flow, partition = data.metadata["flow"].value, data.metadata.get("partition")
                unit = flow if partition is None else f"{flow}[{partition.value}]"
                statuses[unit] = FAILED
                errors[unit] = data.description
    return statuses, errors


ENGINES: dict[str, type[Engine]] = {engine.name: engine for engine in (Local, Airflow, Prefect, Dagster)}


def installed() -> list[str]:
    """The engines this environment can run: ``local`` always, the others when their extra is installed."""
    return [name for name, engine in ENGINES.items() if engine.installed()]
