"""Case (a)'s computed field and filter as a datapackage-pipelines ``flow:`` processor.

dpp imports this module by name (``flow: dpp_steps``) in the process of one pipeline step
and calls ``flow(parameters, datapackage, resources, stats)``; the ``step`` parameter picks
the step, so each step stays a processor (a process) of its own, as dpp runs them. It runs
in the dpp environment (``.nox/dpp``) and imports nothing from dataflows_factory.
"""

from __future__ import annotations

from typing import Any


def flow(parameters: dict[str, Any], datapackage: Any, resources: Any, stats: Any) -> Any:
    """The dataflows steps of one pipeline step: ``compute`` or ``filter`` (as ``steps_a``)."""
    from dataflows import Flow, add_computed_field, filter_rows

    if parameters["step"] == "compute":
        return Flow(add_computed_field(
            target={"name": "value_per_1k", "type": "number"},
            operation=lambda row: row["value"] * 1000 / (row["population"] + 1)))
    return Flow(filter_rows(lambda row: row["value"] > 0))
