"""Uniting a partitioned flow's parts into the flow's one dataset.

Each partition's run publishes ``<store>/<factory>/<flow>@<key>/``; the merge step writes
``<store>/<factory>/<flow>/``, whose resources are the parts' resources concatenated in
partition order. The CSV files are joined byte for byte (the header kept once), so the
result is exactly what dumping the rows of all parts in that order would have written,
without parsing a single row. The merge is skipped when no part changed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from typing import TYPE_CHECKING, Any

from .._fingerprint import fingerprint
from ..errors import FlowExecutionError
from ..partitions import part_dataset
from ..store import Store, unversioned
from ._interrupt import publishing
from ._measure import finish_descriptor
from ._skip import reusable
from .results import SKIPPED, SUCCEEDED, StepResult, now, result_of

if TYPE_CHECKING:
    from ..factory import Factory
    from ..flow import FlowSpec

__all__ = ["merge_parts", "parts_fingerprint"]


def _parts(factory: Factory, spec: FlowSpec, store: Store) -> list[tuple[str, str, dict[str, Any]]]:
    """(partition, dataset name, descriptor) for every partition; all must be present."""
    if spec.partitions is None:
        raise FlowExecutionError(spec.name, "flow is not partitioned; there are no parts to merge")
    found = []
    for value in spec.partitions.resolve(factory.root):
        name = part_dataset(spec.name, value)
        descriptor = store.read_descriptor(factory.name, name)
        if descriptor is None:
            raise FlowExecutionError(
                spec.name, f"partition {value!r} has not been produced; run it before the merge",
                processor="merge partitions", cause_type="DatasetNotFoundError")
        found.append((value, name, descriptor))
    return found


def parts_fingerprint(
    factory: Factory, spec: FlowSpec, store: Store
) -> tuple[str, list[tuple[str, str, dict[str, Any]]]]:
    parts = _parts(factory, spec, store)
    hashes = {f"part:{value}": d.get("dff", {}).get("content_hash") for value, _, d in parts}
    return fingerprint(spec.code_version, {"merge": True}, hashes, {}), parts


def merge_parts(
    factory: Factory, spec: FlowSpec, store: Store, *, force: bool, run_id: str, attempt: int
) -> StepResult:
    started, clock = now(), time.perf_counter()
    uri = store.dataset_url(factory.name, spec.name)
    with contextlib.ExitStack() as stack:
        stack.enter_context(store.lock(factory.name, spec.name, ()))
        print_, parts = parts_fingerprint(factory, spec, store)
        previous = reusable(store, factory.name, spec.name, print_, force=force)
        if previous is not None:
            return result_of(factory.name, spec.name, SKIPPED, uri, previous, print_, started, clock,
                           run_id, attempt)
        first = parts[0][2]
        _check_same_shape(spec.name, parts)
        counts: dict[str, int] = {}
        staged = stack.enter_context(store.staging(factory.name, spec.name))
        outputs: dict[str, Any] = {}
        # Parts on an object store carry version prefixes in their paths; the merged
        # dataset gets its own version when published, so stage under the plain names.
        merged = {key: value for key, value in first.items() if key != "dff"}
        merged["resources"] = [{**r, "path": unversioned(r["path"])} for r in first["resources"]]
        for resource in merged["resources"]:
            target = os.path.join(staged, resource["path"])
            os.makedirs(os.path.dirname(target) or staged, exist_ok=True)
            outputs[resource["name"]] = stack.enter_context(open(target, "wb"))
            counts[resource["name"]] = 0
        for index, (_value, name, descriptor) in enumerate(parts):
            local = stack.enter_context(store.local_copy(factory.name, name))
            base = os.path.dirname(local)
            for resource in descriptor["resources"]:
                with open(os.path.join(base, resource["path"]), "rb") as source:
                    if index:
                        source.readline()  # the header, written once from the first part
                    shutil.copyfileobj(source, outputs[resource["name"]], 1 << 20)
                counts[resource["name"]] += int(resource.get("count_of_rows") or 0)
        for handle in outputs.values():
            handle.close()
        with open(os.path.join(staged, "datapackage.json"), "w", encoding="utf-8") as handle:
            json.dump(merged, handle)
        descriptor = finish_descriptor(staged, factory.name, spec.name, print_, run_id, counts,
                                        extra={"partitions": [value for value, _, _ in parts],
                                               **_repairs(parts)})
        with publishing(run_id):
            store.publish(factory.name, spec.name, staged)
    return result_of(factory.name, spec.name, SUCCEEDED, uri, descriptor, print_, started, clock,
                   run_id, attempt)


def _check_same_shape(flow: str, parts: list[tuple[str, str, dict[str, Any]]]) -> None:
    def shape(descriptor: dict[str, Any]) -> list[tuple[Any, ...]]:
        return [(r["name"], r.get("format", "csv"), json.dumps(r.get("schema"), sort_keys=True))
                for r in descriptor["resources"]]

    expected = shape(parts[0][2])
    for value, _, descriptor in parts:
        for resource in descriptor["resources"]:
            if resource.get("format", "csv") != "csv" or not isinstance(resource.get("path"), str):
                raise FlowExecutionError(
                    flow, f"partition {value!r}: resource {resource['name']!r} is not a single CSV "
                    "file; only CSV parts can be merged", processor="merge partitions")
        if shape(descriptor) != expected:
            raise FlowExecutionError(
                flow, f"partition {value!r} has other resources or schemas than partition "
                f"{parts[0][0]!r}; every partition must produce the same shape",
                processor="merge partitions")


def _repairs(parts: list[tuple[str, str, dict[str, Any]]]) -> dict[str, dict[str, int]]:
    """The parts' padded and truncated row counts, added up per resource."""
    totals: dict[str, dict[str, int]] = {}
    for _value, _name, descriptor in parts:
        for key in ("padded_rows", "truncated_rows"):
            for resource, count in descriptor.get("dff", {}).get(key, {}).items():
                bucket = totals.setdefault(key, {})
                bucket[resource] = bucket.get(resource, 0) + int(count)
    return totals
