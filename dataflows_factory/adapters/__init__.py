"""The orchestrator-neutral compile layer: a :class:`Plan` of units, and one step executor.

Exports are lazy: the processors import :mod:`._dataflows` from this package, and the step
executor imports the model, which imports the processors.
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from .plan import Plan, StepPlan, build_plan
    from .step import StepResult, run_step, step_fingerprint

__all__ = ["Plan", "StepPlan", "StepResult", "build_plan", "run_step", "step_fingerprint"]

__getattr__, __dir__ = lazy_exports(__name__, {
    "Plan": ".plan", "StepPlan": ".plan", "build_plan": ".plan",
    "StepResult": ".step", "run_step": ".step", "step_fingerprint": ".step",
}, globals())
