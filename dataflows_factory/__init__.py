"""dataflows-factory: factories of ``dataflows`` flows, run locally or on any orchestrator.

>>> from dataflows import Flow, load
>>> from dataflows_factory import Factory
>>> factory = Factory("world")
>>> @factory.flow()
... def countries():
...     return Flow(load("raw/countries.csv"))

Names are imported on first use: Airflow imports every provider's package (this one
included) in each of its processes, which must not pay for importing ``dataflows``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import (
    DatasetNotFoundError,
    DuplicateFlowError,
    FactoryCycleError,
    FactoryDefinitionError,
    FactoryError,
    FactoryRefError,
    FlowExecutionError,
    FlowReturnError,
    InvalidFlowNameError,
    InvalidStepError,
    MissingExtraError,
    SelectionError,
    StoreError,
    UnknownUpstreamError,
)

if TYPE_CHECKING:
    from .adapters.plan import Plan, StepPlan
    from .adapters.step import StepResult, run_step, step_fingerprint
    from .factory import Factory, load_factory
    from .flow import DatasetStep, FlowSpec
    from .runner import RunReport, run
    from .store import Store

__version__ = "0.1.0"

_LAZY = {
    "DatasetStep": ".flow",
    "Factory": ".factory",
    "FlowSpec": ".flow",
    "Plan": ".adapters.plan",
    "RunReport": ".runner",
    "StepPlan": ".adapters.plan",
    "StepResult": ".adapters.step",
    "Store": ".store",
    "load_factory": ".factory",
    "run": ".runner",
    "run_step": ".adapters.step",
    "step_fingerprint": ".adapters.step",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dataflows_factory' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "DatasetNotFoundError",
    "DatasetStep",
    "DuplicateFlowError",
    "Factory",
    "FactoryCycleError",
    "FactoryDefinitionError",
    "FactoryError",
    "FactoryRefError",
    "FlowExecutionError",
    "FlowReturnError",
    "FlowSpec",
    "InvalidFlowNameError",
    "InvalidStepError",
    "MissingExtraError",
    "Plan",
    "RunReport",
    "SelectionError",
    "StepPlan",
    "StepResult",
    "Store",
    "StoreError",
    "UnknownUpstreamError",
    "load_factory",
    "run",
    "run_step",
    "step_fingerprint",
]
