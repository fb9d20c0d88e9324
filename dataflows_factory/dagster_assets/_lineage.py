"""OpenLineage on Dagster: the Dagster run a step runs in, as the parent of the step's events.

The steps emit their own events (see :mod:`dataflows_factory.lineage`), in Dagster's process
or in a Pipes subprocess; their parent run facet names the Dagster run that materializes the
asset: job the run's job name (``__ephemeral_asset_job__`` for an ad-hoc ``materialize()``),
run id the run's id (a UUID, the one Dagster's UI and ``dagster run`` commands show). The
namespace is ``$OPENLINEAGE_NAMESPACE``, else ``dagster``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..lineage import ParentRun

__all__ = ["run_parent"]


def run_parent(context: Any) -> ParentRun | None:
    """The op context's Dagster run when lineage is on, else ``None``."""
    from ..lineage import ParentRun, enabled  # imported when an op runs, not when assets are built

    if not enabled():
        return None
    namespace = os.environ.get("OPENLINEAGE_NAMESPACE", "").strip() or "dagster"
    return ParentRun(namespace=namespace, job=str(context.run.job_name), run_id=str(context.run_id))
