"""``dff``: the command line. Exit codes: 0 success, 1 a flow failed, 2 usage/definition error.

One module per command group; each defines plain click commands and this module adds them to
the ``dff`` group, so no command module imports another.
"""

from __future__ import annotations

import click

from .browse import graph, inspect, list_flows, processors, validate
from .docs import docs
from .project import init
from .running import run
from .steps import compile_plan, step
from .trace import trace

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True,
              help="Show full tracebacks on errors; with --jobs 1, run flows in this process "
                   "(so breakpoint() in a flow stops here).")
@click.version_option(package_name="dataflows-factory", prog_name="dff")
def main(debug: bool) -> None:
    """Run factories of dataflows flows: locally, or compiled to an orchestrator."""


for _command in (init, run, graph, compile_plan, step, list_flows, inspect, processors, validate,
                 trace):
    main.add_command(_command)
main.add_command(docs)
