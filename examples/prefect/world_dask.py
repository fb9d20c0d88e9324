"""The world factory on a Dask cluster: Prefect's DaskTaskRunner runs each flow's task on a worker.

    python examples/prefect/world_dask.py                            # a local cluster, 2 workers
    DFF_DASK_ADDRESS=tcp://scheduler:8786 python examples/prefect/world_dask.py   # your cluster

Needs ``pip install "dataflows-factory[prefect,dask]"``. Without ``DFF_DASK_ADDRESS``, the
flow run starts a ``distributed.LocalCluster`` of two worker processes and stops it at the
end. With it, the tasks go to that scheduler's workers, which need what a task needs: this
package, the factory's file at the same path (they import it by reference) and a store they
can all reach (``DFF_STORE=s3://bucket/world``; a local folder works only on one machine).
Each task runs its flow in the Dask worker's own thread: give workers one thread each and
start as many workers as cores. Point ``PREFECT_API_URL`` at a Prefect server (``prefect
server start``): without one, every Dask worker starts a temporary server of its own too.
"""

from __future__ import annotations

import os
from pathlib import Path

from prefect_dask import DaskTaskRunner

from dataflows_factory import load_factory
from dataflows_factory.prefect_blocks import build_flow

factory = load_factory(str(Path(__file__).resolve().parent.parent / "world" / "factory.py"))


def task_runner() -> DaskTaskRunner:
    """The scheduler at ``$DFF_DASK_ADDRESS``, else a local cluster made for the flow run."""
    address = os.environ.get("DFF_DASK_ADDRESS")
    if address:
        return DaskTaskRunner(address=address)
    return DaskTaskRunner(cluster_class="distributed.LocalCluster",
                          cluster_kwargs={"n_workers": 2, "threads_per_worker": 1, "processes": True,
                                          "dashboard_address": None})


# Bound to `world_flow`, the name build_flow gives the flow function (serve() and
# deployments find it at examples/prefect/world_dask.py:world_flow).
world_flow = build_flow(factory, task_runner=task_runner())


if __name__ == "__main__":  # Dask's worker processes import this file again: no run there
    for name, result in world_flow().items():
        print(f"{name}: {result['status']}, {sum(result['rows'].values())} rows -> {result['dataset_uri']}")
