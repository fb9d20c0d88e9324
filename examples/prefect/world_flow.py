"""The world factory on Prefect: as a flow of its own, and inside a flow of yours.

    python examples/prefect/world_flow.py            # one run of the whole factory
    python examples/prefect/world_flow.py report     # your own flow, running a selection
    python examples/prefect/world_flow.py serve      # a deployment, every night at 03:00

Each factory flow is one task run (countries and cities run concurrently); a second run
shows Cached task runs, and every task publishes its row counts and schema as artifacts.
"""

from __future__ import annotations

import sys
from pathlib import Path

from prefect import flow

from dataflows_factory import load_factory
from dataflows_factory.prefect_blocks import build_flow, run_factory

factory = load_factory(str(Path(__file__).resolve().parent.parent / "world" / "factory.py"))

# Bound to `world_flow`, the name build_flow gives the flow function, so serve() and
# deployments find it at examples/prefect/world_flow.py:world_flow.
world_flow = build_flow(factory)


@flow(log_prints=True)
def key_metrics_report(select: str = "+key_metrics") -> int:
    """Refresh the key metrics (and what they need), then report on them."""
    results = run_factory(factory, select=select)
    metrics = results["key_metrics"]
    print(f"key_metrics: {metrics.total_rows} rows ({metrics.status}) at {metrics.dataset_uri}")
    return metrics.total_rows


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "run"
    if command == "serve":
        world_flow.serve(name="world-nightly", cron="0 3 * * *")
    elif command == "report":
        key_metrics_report()
    else:
        world_flow()
