"""dataflows-factory: factories of ``dataflows`` flows, run locally or on any orchestrator.

>>> from dataflows import Flow, load
>>> from dataflows_factory import Factory
>>> factory = Factory("world")
>>> @factory.flow()
... def countries():
...     return Flow(load("raw/countries.csv"))
"""

from .adapters.plan import Plan, StepPlan
from .adapters.step import StepResult, run_step, step_fingerprint
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
from .factory import Factory, load_factory
from .flow import DatasetStep, FlowSpec
from .runner import RunReport, run
from .store import Store

__version__ = "0.1.0"

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
