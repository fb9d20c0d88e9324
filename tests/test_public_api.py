"""The public surface is small, explicit and importable without any orchestrator."""

from __future__ import annotations

import json
import subprocess
import sys

import dataflows_factory

EXPECTED = [
    "DatasetNotFoundError", "DatasetStep", "DuplicateFlowError", "Factory", "FactoryCycleError",
    "FactoryDefinitionError", "FactoryError", "FactoryRefError", "FlowExecutionError",
    "FlowReturnError", "FlowSpec", "InvalidFlowNameError", "InvalidStepError", "MissingExtraError",
    "Plan", "RunReport", "SelectionError", "StepPlan", "StepResult", "Store", "StoreError",
    "UnknownUpstreamError", "load_factory", "run", "run_step", "step_fingerprint",
]


def test_all_is_sorted_and_locked():
    """__all__ is the documented surface, sorted; every name resolves."""
    assert dataflows_factory.__all__ == sorted(dataflows_factory.__all__)
    assert dataflows_factory.__all__ == EXPECTED
    for name in EXPECTED:
        assert getattr(dataflows_factory, name) is not None


def test_import_pulls_in_no_orchestrator():
    """import dataflows_factory (and building a plan) loads no airflow, prefect or dagster."""
    code = (
        "import sys, json, dataflows_factory\n"
        "from dataflows_factory.adapters import plan, step\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('airflow', 'prefect', 'dagster'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_package_is_typed():
    """py.typed ships with the package."""
    from importlib.resources import files

    assert files("dataflows_factory").joinpath("py.typed").is_file()
