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

from typing import TYPE_CHECKING

from ._lazy import lazy_exports
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


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())


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
