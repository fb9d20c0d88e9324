"""Tasks run their flows in worker processes: separate cores; same results, errors and logs."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from dataflows import Flow

from dataflows_factory import Factory, load_factory
from dataflows_factory.adapters.pool import WORKER_DIED
from dataflows_factory.prefect_blocks import PrefectTranslator, build_flow, run_factory

# Two independent flows that each hold the GIL for a while, and say where and when they ran.
BUSY = '''
import os
import time

from dataflows import Flow

from dataflows_factory import Factory

factory = Factory("busy", store="data")


def spin(seconds):
    started = time.time()
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        sum(range(10_000))  # pure Python: holds the GIL
    yield {"pid": str(os.getpid()), "started": repr(started), "ended": repr(time.time())}


@factory.flow()
def left():
    return Flow(spin(2.0))


@factory.flow()
def right():
    return Flow(spin(2.0))
'''

# Kills its own worker on the first try, then succeeds.
DOOMED = '''
import os
import signal
from pathlib import Path

from dataflows import Flow

from dataflows_factory import Factory

factory = Factory("doomed", store="data")


def die_once():
    marker = Path(__file__).with_name("died")
    if not marker.exists():
        marker.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    yield {"survived": "yes"}


@factory.flow(retries=1, retry_delay=0)
def fragile():
    return Flow(die_once())
'''


# Streams for a few seconds: longer than its task may run.
SLOW = '''
import time

from dataflows import Flow

from dataflows_factory import Factory

factory = Factory("slow", store="data")


def crawl_rows():
    deadline = time.perf_counter() + 6.0
    while time.perf_counter() < deadline:
        sum(range(10_000))
    yield {"done": "yes"}


@factory.flow()
def crawl():
    return Flow(crawl_rows())
'''


class _TimeLimited(PrefectTranslator):
    def get_task_options(self, step: Any) -> dict[str, Any]:
        return {**super().get_task_options(step), "timeout_seconds": 1}


def _factory_file(folder: Path, name: str, source: str) -> Path:
    folder.mkdir()
    path = folder / f"{name}.py"
    path.write_text(source)
    return path


def _row(result: dict[str, Any]) -> dict[str, str]:
    """The one row a flow wrote, read back from its published dataset."""
    dataset = Path(result["dataset_uri"])
    descriptor = json.loads((dataset / "datapackage.json").read_text())
    with open(dataset / descriptor["resources"][0]["path"], newline="") as handle:
        (row,) = csv.DictReader(handle)
    return row


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="two flows in parallel need two cores")
@pytest.mark.parametrize("isolation", ["process", "thread"])
def test_independent_flows_run_in_two_worker_processes_at_once(tmp_path: Path, isolation: str,
                                                              api) -> None:
    """process: two CPU-bound flows run in two other PIDs, overlapping; thread: in this one."""
    busy = load_factory(str(_factory_file(tmp_path / "busy", "busy", BUSY)))

    state = build_flow(busy, isolation=isolation)(return_state=True)  # type: ignore[arg-type]

    assert state.is_completed()
    left, right = (_row(state.result()[name]) for name in ("left", "right"))
    assert float(left["started"]) < float(right["ended"])
    assert float(right["started"]) < float(left["ended"])
    pids = {int(left["pid"]), int(right["pid"])}
    if isolation == "process":
        assert len(pids) == 2 and os.getpid() not in pids
    else:
        assert pids == {os.getpid()}
    # The step executor's own log lines reach each task run's logs, from either place.
    logs = api.task_logs(state)
    for name in ("left", "right"):
        assert any(line.startswith(f"flow '{name}' done: 1 rows") for line in logs[name]), logs[name]
        assert not any(f"flow '{other}' done" in line for other in ("left", "right") if other != name
                       for line in logs[name])


def test_a_killed_worker_fails_its_try_and_the_retry_runs_on_a_new_pool(tmp_path: Path, api) -> None:
    """A worker killed mid-flow fails that try with a clear error; Prefect's retry succeeds."""
    doomed = load_factory(str(_factory_file(tmp_path / "doomed", "doomed", DOOMED)))

    state = build_flow(doomed)(return_state=True)

    assert state.is_completed()
    assert _row(state.result()["fragile"]) == {"survived": "yes"}
    run = api.task_runs(state)["fragile"]
    assert run.run_count == 2
    logs = "\n".join(api.task_logs(state)["fragile"])
    assert WORKER_DIED in logs and "flow 'fragile'" in logs


def test_a_task_timeout_fails_the_task_run_without_waiting_for_the_worker(tmp_path: Path,
                                                                           api) -> None:
    """Prefect's timeout interrupts the waiting task; the step stops in its worker without
    publishing, and the pool lives on."""
    slow = load_factory(str(_factory_file(tmp_path / "slow", "slow", SLOW)))

    started = time.perf_counter()
    state = build_flow(slow, translator=_TimeLimited())(return_state=True)

    assert time.perf_counter() - started < 5.5  # the flow alone streams for 6 s
    assert state.is_failed()
    assert api.states(state) == {"crawl": "TimedOut"}
    assert not (tmp_path / "slow" / "data" / "slow" / "crawl").exists(), "published after its timeout"
    # The pool is not lost: the next run (without a time limit) runs the flow in full.
    again = build_flow(slow)(return_state=True)
    assert again.is_completed()
    assert again.result()["crawl"]["status"] == "succeeded"
    assert _row(again.result()["crawl"]) == {"done": "yes"}


def test_a_factory_without_import_reference_runs_in_the_task_thread(tmp_path: Path, api) -> None:
    """A factory built inside a function cannot be loaded by a worker: it runs here, and says so."""
    factory = Factory("local", store=tmp_path / "data", root=tmp_path)

    @factory.flow()
    def where():  # type: ignore[no-untyped-def]
        return Flow([{"pid": str(os.getpid())}])

    state = build_flow(factory)(return_state=True)

    assert state.is_completed()
    assert _row(state.result()["where"]) == {"pid": str(os.getpid())}
    assert any("run in the calling thread" in line for line in api.task_logs(state)["where"])


def test_isolation_is_checked_when_the_flow_is_built(tmp_path: Path) -> None:
    """An unknown isolation fails in build_flow and run_factory, before any flow run."""
    factory = Factory("checked", root=tmp_path)
    factory.flow(name="source")(lambda: Flow([{"a": 1}]))
    with pytest.raises(ValueError, match="'process' or 'thread'"):
        build_flow(factory, isolation="processes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'process' or 'thread'"):
        run_factory(factory, isolation="threads")  # type: ignore[arg-type]


# A user's script with no `if __name__ == "__main__":` guard, as people write them.
SCRIPT = """
import json
import os

from dataflows_factory.prefect_blocks import build_flow

{factory}
world = build_flow({target})
results = world()
statuses = {{name: r["status"] for name, r in results.items()}}
print("RESULT " + json.dumps({{"pid": os.getpid(), "statuses": statuses}}))
"""


def _run_script(folder: Path, source: str, prefect_api: str) -> tuple[dict[str, Any], str]:
    script = folder / "run_busy.py"
    script.write_text(source)
    env = {**os.environ, "PREFECT_API_URL": prefect_api, "PREFECT_LOGGING_LEVEL": "INFO"}
    done = subprocess.run([sys.executable, str(script)], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    return json.loads(line[len("RESULT "):]), output


def test_a_script_without_main_guard_runs_its_flows_in_worker_processes(tmp_path: Path,
                                                                        prefect_api: str) -> None:
    """Workers never import the script being run: a module-level ``world()`` works, in workers."""
    factory_file = _factory_file(tmp_path / "busy", "busy", BUSY)
    source = SCRIPT.format(factory="", target=repr(str(factory_file)))

    result, output = _run_script(factory_file.parent, source, prefect_api)

    assert result["statuses"] == {"left": "succeeded", "right": "succeeded"}, output
    assert WORKER_DIED not in output
    pids = {int(_row({"dataset_uri": str(factory_file.parent / "data" / "busy" / name)})["pid"])
            for name in ("left", "right")}
    assert result["pid"] not in pids and len(pids) == 2, "each flow ran in a worker process"


def test_a_factory_defined_in_an_unguarded_script_runs_in_threads_with_one_warning(
        tmp_path: Path, prefect_api: str) -> None:
    """A worker could load such a factory only by re-running the script: threads, said once."""
    folder = tmp_path / "inline"
    folder.mkdir()
    body = BUSY.replace('factory = Factory("busy", store="data")',
                        'factory = Factory("busy", store=os.path.join(os.path.dirname(__file__), "data"))')
    source = SCRIPT.format(factory=body, target="factory")

    result, output = _run_script(folder, source, prefect_api)

    assert result["statuses"] == {"left": "succeeded", "right": "succeeded"}, output
    # Emitted once (by our logger), and also shown in the log of the task run that met it.
    assert output.count("dataflows_factory.adapters.pool - factory 'busy' is defined in the script "
                        "being run") == 1, output
    pids = {int(_row({"dataset_uri": str(folder / "data" / "busy" / name)})["pid"])
            for name in ("left", "right")}
    assert pids == {result["pid"]}
