"""The world factory as Dagster assets whose flows run in their own virtualenv, through Dagster Pipes.

    dff compile examples/world/factory.py:factory -o examples/dagster/world.plan.json
    export DFF_FLOWS_PYTHON=/path/to/flows-venv/bin/python   # dataflows-factory + dagster-pipes
    dagster dev -f examples/dagster/pipes_definitions.py

Loading these definitions reads only the compiled plan: neither the factory nor ``dataflows``
is imported into Dagster's process. Each asset's op starts ``$DFF_FLOWS_PYTHON -m
dataflows_factory.dagster_pipes_step``, which runs the flow and reports its materialization
metadata and ``dataset_valid`` check back, as the in-process assets of definitions.py do.
"""

import os
from pathlib import Path

from dagster import Definitions

from dataflows_factory.dagster_assets import FactoryResource, build_assets

HERE = Path(__file__).resolve().parent
PLAN = HERE / "world.plan.json"

python = os.environ.get("DFF_FLOWS_PYTHON", "")
if not python:
    raise RuntimeError("set DFF_FLOWS_PYTHON to the python of the flows' virtualenv "
                       "(pip install dataflows-factory dagster-pipes there)")
if not PLAN.is_file():
    raise RuntimeError(f"no compiled plan at {PLAN}: run `dff compile examples/world/factory.py:factory "
                       f"-o {PLAN}` first")

defs = Definitions(
    assets=build_assets(plan=PLAN, python=python),
    # The store the plan was compiled for; per environment, FactoryResource(store=EnvVar(...)).
    resources={"dff": FactoryResource()},
)
