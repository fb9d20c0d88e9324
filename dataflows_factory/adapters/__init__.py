"""The orchestrator-neutral compile layer: a :class:`Plan` of units, and one step executor.

Exports are lazy: the model imports :mod:`.plan` from this package (it builds plans), and
the step executor imports the model.
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from .plan import Plan, StepPlan
    from .step import StepResult, run_step, step_fingerprint

__all__ = ["Plan", "StepPlan", "StepResult", "run_step", "step_fingerprint"]

__getattr__, __dir__ = lazy_exports(__name__, {
    "Plan": ".plan", "StepPlan": ".plan",
    "StepResult": ".step", "run_step": ".step", "step_fingerprint": ".step",
}, globals())
