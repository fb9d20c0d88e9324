"""Run one step with another Python interpreter: the flows' environment, not the scheduler's.

In real deployments the scheduler's environment and the flows' differ (dataflows' own
dependencies pin old versions of what Airflow also uses). The scheduler side needs only
this module (no ``dataflows``): :func:`run_external` starts ``PYTHON -m dataflows_factory
step ...`` in the flows' virtualenv, streams its log lines to the caller's logger, and reads
back the outcome the step wrote to a file: the :class:`StepResult`, or the one error
payload every engine reports, raised here as the same :class:`FlowExecutionError`.

The outcome file is the protocol, not stdout: a flow may print whatever it likes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from typing import Any

from .._secrets import redact
from ..errors import FactoryError, FlowExecutionError
from .results import StepResult

__all__ = ["ExternalStepError", "OUTCOME_VERSION", "run_external", "step_command", "write_outcome"]

OUTCOME_VERSION = 1


class ExternalStepError(FactoryError, RuntimeError):
    """The other interpreter could not run the step at all (missing, wrong package, stale
    plan, a broken factory): not a flow failure, so not worth a retry."""


def step_command(python: str, factory_ref: str, flow: str, *, outcome: str, store: str | None = None,
                 partition: str | None = None, force: bool = False, run_id: str | None = None,
                 attempt: int = 1, plan: str | None = None,
                 lineage_parent: dict[str, Any] | None = None) -> list[str]:
    """The command line that runs one step with ``python`` and writes its outcome file."""
    command = [python, "-m", "dataflows_factory", "step", factory_ref, flow, "--outcome", outcome,
               "--attempt", str(attempt)]
    parent = json.dumps(lineage_parent) if lineage_parent is not None else None
    for option, value in (("--store", store), ("--partition", partition), ("--run-id", run_id),
                          ("--plan", plan), ("--lineage-parent", parent)):
        if value is not None:
            command += [option, value]
    if force:
        command.append("--force")
    return command


def run_external(python: str, factory_ref: str, flow: str, *, log: Callable[[str], None],
                 store: str | None = None, partition: str | None = None, force: bool = False,
                 run_id: str | None = None, attempt: int = 1, plan: str | None = None,
                 env: dict[str, str] | None = None, cwd: str | None = None,
                 timeout: float | None = None,
                 lineage_parent: dict[str, Any] | None = None) -> StepResult:
    """Run one step with ``python`` (a virtualenv's interpreter); return its result.

    Every line the step prints (its log: rows, rows/s, warnings) goes to ``log``, redacted.
    A failed flow raises :class:`FlowExecutionError` exactly as in process; anything that
    kept the step from running raises :class:`ExternalStepError` with the process's last lines.
    ``lineage_parent`` (a ``ParentRun.to_dict()``) is the run the step's OpenLineage events
    point at.
    """
    if not os.path.isfile(python) or not os.access(python, os.X_OK):
        raise ExternalStepError(
            f"flow {flow!r}: interpreter {python!r} does not exist or cannot be run; give the "
            "path of the python of a virtualenv that has dataflows-factory installed")
    with tempfile.TemporaryDirectory(prefix="dff-step-") as folder:
        outcome = os.path.join(folder, "outcome.json")
        command = step_command(python, factory_ref, flow, outcome=outcome, store=store,
                               partition=partition, force=force, run_id=run_id, attempt=attempt,
                               plan=plan, lineage_parent=lineage_parent)
        tail, code = _run(command, log, env, cwd, timeout)
        data = _read(outcome)
    if data is None and code < 0:
        # Killed before it could say anything (SIGKILL, the OOM killer): a failed try,
        # which a retry may get through; nothing was published (publishing is atomic).
        raise FlowExecutionError(flow, f"its process was killed by {signal.Signals(-code).name}",
                                 cause_type="Interrupted", partition=partition)
    if data is None:
        last = "; ".join(tail[-3:]) or "no output"
        raise ExternalStepError(f"flow {flow!r}: {python} wrote no outcome ({last})")
    if "result" in data:
        return StepResult.from_dict(data["result"])
    if "error" in data:
        raise FlowExecutionError.from_dict(data["error"])
    raise ExternalStepError(f"flow {flow!r}: {data.get('unusable', 'the step could not run')}")


def write_outcome(path: str, *, result: StepResult | None = None, error: dict[str, Any] | None = None,
                  unusable: str | None = None) -> None:
    """The step's side of the protocol (``dff step --outcome``): written last, whole."""
    data: dict[str, Any] = {"version": OUTCOME_VERSION}
    if result is not None:
        data["result"] = result.to_dict()
    elif error is not None:
        data["error"] = error
    else:
        data["unusable"] = redact(unusable or "the step could not run")
    temporary = f"{path}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
    os.replace(temporary, path)


def _run(command: Sequence[str], log: Callable[[str], None], env: dict[str, str] | None,
         cwd: str | None, timeout: float | None) -> tuple[list[str], int]:
    tail: list[str] = []
    merged = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          errors="replace", env=merged, cwd=cwd) as process:
        assert process.stdout is not None
        try:
            for line in process.stdout:
                line = redact(line.rstrip("\n"))
                tail = [*tail[-9:], line]
                log(line)
            process.wait(timeout=timeout)
        except BaseException:
            # The task was stopped (timeout, SIGTERM turned into an exception): stop the
            # step too; it publishes nothing once interrupted.
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
            raise
    return tail, process.returncode


def _read(path: str) -> dict[str, Any] | None:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
