"""The operator on its own: what it needs to be built, and SIGTERM stopping its step's process."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from external_support import flows_cli

from dataflows_factory.airflow_provider._compat import AirflowFailException
from dataflows_factory.airflow_provider.external import DataflowsExternalFlowOperator
from dataflows_factory.errors import FactoryRefError

SLOW = '''\
import time
from pathlib import Path

from dataflows import Flow

from dataflows_factory import Factory

factory = Factory("slow", store="data")


def crawl(row):
    Path({marker!r}).touch()
    time.sleep(60)


@factory.flow()
def slow():
    return Flow([{{"n": 1}}], crawl)
'''


def children() -> set[int]:
    """The processes this one started (Linux /proc)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == os.getpid():
                found.add(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return found


def test_sigterm_stops_the_step_and_publishes_nothing(tmp_path: Path, flows_python: str) -> None:
    """As Airflow's SIGTERM handler calls on_kill, the step's process ends and the task fails at once."""
    marker = tmp_path / "started"
    (tmp_path / "factory.py").write_text(SLOW.format(marker=str(marker)))
    flows_cli(flows_python, "compile", "factory.py", "-o", "plan.json", cwd=tmp_path)
    task = DataflowsExternalFlowOperator(task_id="slow", factory_ref=f"{tmp_path / 'factory.py'}:factory",
                                         flow="slow", plan_path=str(tmp_path / "plan.json"),
                                         python=flows_python)
    steps: set[int] = set()

    def stop_when_the_flow_runs() -> None:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert time.monotonic() < deadline, "the flow never started"
            time.sleep(0.05)
        steps.update(children())
        os.kill(os.getpid(), signal.SIGTERM)

    # What Airflow's task runner installs: SIGTERM calls the task's on_kill().
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: task.on_kill())
    stopper = threading.Thread(target=stop_when_the_flow_runs)
    started = time.monotonic()
    try:
        stopper.start()
        with pytest.raises(AirflowFailException, match="flow 'slow': the task was stopped"):
            task.execute({"ti": SimpleNamespace(try_number=1), "run_id": "manual__sigterm"})
    finally:
        stopper.join()
        signal.signal(signal.SIGTERM, previous)
    assert time.monotonic() - started < 30  # not the flow's 60 s
    assert steps and not steps & children()
    for pid in steps:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert not (tmp_path / "data" / "slow" / "slow").exists()  # nothing published


def test_without_a_compiled_plan_the_operator_says_what_it_needs(tmp_path: Path) -> None:
    """Alone, the operator needs a compiled plan: none, or a missing one, is one line naming the flow."""
    ref, plan = f"{tmp_path / 'factory.py'}:factory", tmp_path / "plan.json"
    with pytest.raises(FactoryRefError, match=r"^flow 'cities': DataflowsExternalFlowOperator needs plan"):
        DataflowsExternalFlowOperator(task_id="cities", factory_ref=ref, flow="cities", python="/x")
    with pytest.raises(FactoryRefError) as missing:
        DataflowsExternalFlowOperator(task_id="cities", factory_ref=ref, flow="cities", python="/x",
                                      plan_path=str(plan))
    assert str(missing.value) == (f"flow 'cities': compiled plan {str(plan)!r} does not exist: "
                                  f"write it with `dff compile FILE -o {plan}`")
