"""Every installed engine runs the same factories as the local runner, with the same outcome.

For each (engine, factory): the same units with the same statuses, the same datasets in the
store (rows per resource and content hash, parts of partitions included), and the failing
flow's one error line shown by the engine itself. ``local`` is always an engine: a second
local run on a fresh copy must equal the reference, so the reference is deterministic.
Engines whose extra is not installed in this environment are not collected.
"""

from __future__ import annotations

import pytest

from .cases import CASES, Case
from .engines import installed

ENGINES = installed()

# Applied last, so engines vary slowest: every local run happens before an orchestrator's
# (a process that ran a Prefect flow forks slower local-runner workers).
each_engine = pytest.mark.parametrize("engine", ENGINES)
each_case = pytest.mark.parametrize("case", CASES, ids=str)


@each_case
def test_reference_keeps_the_factorys_promises(outcome, case: Case) -> None:
    """The local runner gives the statuses the factory promises, reports what it stored,
    and names flow, processor, resource and row in the failing flow's one error line."""
    reference = outcome("reference", case)
    assert reference.statuses == case.statuses
    assert reference.ok == (set(case.statuses.values()) == {"succeeded"})
    produced = [unit for unit, status in case.statuses.items() if status == "succeeded"]
    assert len(reference.datasets) == len(produced)
    assert set(reference.errors) == set(case.error_names)
    for unit, names in case.error_names.items():
        line = reference.errors[unit]
        assert "\n" not in line
        for name in names:
            assert line.count(name) == 1, (name, line)


@each_case
def test_reference_report_equals_the_store(outcome, case: Case) -> None:
    """What the local runner reports for each dataset (rows, content hash) is what its store holds."""
    reference = outcome("reference", case)
    assert reference.reported == reference.datasets


@each_case
@each_engine
def test_same_statuses(outcome, engine: str, case: Case) -> None:
    """The engine runs the same units as the local runner, each ending the same way."""
    found, reference = outcome(engine, case), outcome("reference", case)
    assert found.statuses == reference.statuses
    assert found.ok == reference.ok


@each_case
@each_engine
def test_same_datasets(outcome, engine: str, case: Case) -> None:
    """The engine's store holds the same datasets: rows per resource and content hash each."""
    found, reference = outcome(engine, case), outcome("reference", case)
    assert reference.datasets
    assert found.datasets == reference.datasets


@each_case
@each_engine
def test_failing_flow_error_line_surfaces(outcome, engine: str, case: Case) -> None:
    """Each failed unit's error line, as the local runner gives it, is what the engine shows, on one line."""
    found, reference = outcome(engine, case), outcome("reference", case)
    assert set(found.errors) == set(reference.errors)
    for unit, line in reference.errors.items():
        assert line in found.errors[unit]
        assert "\n" not in found.errors[unit].strip()
