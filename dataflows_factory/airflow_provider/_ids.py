"""Pure naming functions: flow -> task id, dataset location -> Asset URI. No Airflow import.

Kept apart from the operator so that every id in a compiled DAG comes from exactly one
function: :func:`~dataflows_factory._naming.safe_id`, with Airflow's alphabet.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from .._naming import safe_id

__all__ = ["MAX_ID_LENGTH", "asset_uri", "partition_task_id", "task_id_for"]

# Airflow's KEY_REGEX allows letters, digits, '_', '-' and '.'; ids are at most 250 chars.
MAX_ID_LENGTH = 250


def task_id_for(name: str, *, prefix: str = "", max_length: int = MAX_ID_LENGTH) -> str:
    """A valid, deterministic Airflow id for a flow (or factory) name.

    A valid id is returned unchanged (flow names always are). Otherwise unsafe characters
    become ``_`` and a stable hash of the original name is appended, so that neither the
    rewrite nor the truncation to ``max_length`` can make two names collide.

    >>> task_id_for("key_metrics")
    'key_metrics'
    >>> task_id_for("key_metrics", prefix="world.")
    'world.key_metrics'
    >>> task_id_for("sales report")
    'sales_report_54d4cf70'
    """
    return safe_id(prefix + name, allowed=r"A-Za-z0-9_.-", max_length=max_length)


def partition_task_id(flow_task_id: str) -> str:
    """The id of the task mapped over a partitioned flow's partitions.

    Flow names are Python identifiers, so a ``.`` suffix never collides with another
    flow's task; the merge task keeps the flow's own id (downstream tasks, XCom and the
    Asset stay where they are for an unpartitioned flow).

    >>> partition_task_id("sales")
    'sales.partition'
    """
    return task_id_for("partition", prefix=f"{flow_task_id}.")


def asset_uri(dataset_location: str) -> str:
    """The Asset URI of a dataset folder: ``file://`` for local paths, credentials dropped.

    >>> asset_uri("/data/world/countries")
    'file:///data/world/countries'
    >>> asset_uri("s3://key:secret@bucket/world/countries")
    's3://bucket/world/countries'
    """
    parts = urlsplit(dataset_location)
    if len(parts.scheme) <= 1:  # a POSIX path, or a Windows drive letter
        return Path(dataset_location).absolute().as_uri()
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/") or "/", "", ""))
