"""Datasets read back from a store's descriptors, the one way every suite compares them.

Nothing here imports an orchestrator: the engine suites (``tests/airflow``, ``tests/dagster``)
use these helpers too.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from dataflows_factory import Factory, Store

Dataset = tuple[dict[str, int], str]
"""A published dataset as the suites compare it: rows per resource, and its content hash."""


def stored(store: str | os.PathLike[str] | Store, factory: str, flows: Iterable[str]) -> dict[str, Dataset]:
    """``{flow: (rows per resource, content_hash)}`` read from the descriptors of ``flows``.

    ``flows`` are dataset folder names (``sales@<key>`` for a partition's part); a dataset
    that is missing fails with the store named.
    """
    target = store if isinstance(store, Store) else Store(store)
    found = {}
    for flow in flows:
        descriptor = target.read_descriptor(factory, flow)
        assert descriptor is not None, f"no dataset for {flow!r} in {target}"
        found[flow] = _dataset(descriptor)
    return found


def published(store: Path, factory: str) -> dict[str, Dataset]:
    """Every dataset a local store holds for ``factory``, by folder name (parts included)."""
    return {path.parent.name: _dataset(json.loads(path.read_text(encoding="utf-8")))
            for path in sorted((store / factory).glob("*/datapackage.json"))}


def local_datasets(factory: Factory, store: str | os.PathLike[str]) -> dict[str, Dataset]:
    """Run ``factory`` on the local runner into ``store``; ``{unit: (rows, content_hash)}`` of its report.

    Units are the report's keys: flow names, and ``flow[value]`` for each partition.
    """
    from dataflows_factory.runner import run

    report = run(factory, store=str(store), show_progress=False, jobs=1)
    assert report.ok, [result.error for result in report.failed]
    return {name: (result.rows, result.content_hash) for name, result in report.results.items()}


def _dataset(descriptor: dict[str, Any]) -> Dataset:
    rows = {resource["name"]: resource["count_of_rows"] for resource in descriptor["resources"]}
    return rows, descriptor["dff"]["content_hash"]
