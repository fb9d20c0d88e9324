"""The orchestrator-neutral compile layer: a :class:`Plan` of steps, and one step executor."""

from .plan import Plan, StepPlan, build_plan
from .step import StepResult, run_step, step_fingerprint

__all__ = ["Plan", "StepPlan", "StepResult", "build_plan", "run_step", "step_fingerprint"]
