"""Measuring a dataset as it is written: rows per resource while it streams, then bytes,
hashes and the content hash in its descriptor."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

from ..store import DESCRIPTOR
from .results import now

__all__ = ["Progress", "RowCounter", "finish_descriptor", "measure", "write_descriptor"]

log = logging.getLogger("dataflows_factory.step")

Progress = Callable[[str, str, int], None]
"""Called as ``progress(flow, resource, rows_so_far)`` while a flow streams."""


class RowCounter:
    """A rows step that counts rows per resource and reports progress a few times a second."""

    def __init__(self, flow: str, progress: Progress | None, every: float = 0.25) -> None:
        self.flow = flow
        self.progress = progress
        self.every = every
        self.log_every = 10.0
        self.counts: dict[str, int] = {}

    @property
    def step(self) -> Callable[[Any], Iterator[Any]]:
        # A plain function, not a bound method: dataflows silently skips bound methods.
        def rows_step(rows: Any) -> Iterator[Any]:
            return self._count(rows)

        return rows_step

    def _count(self, rows: Any) -> Iterator[Any]:
        resource = rows.res.name
        count = 0
        start = last = last_log = time.perf_counter()
        for count, row in enumerate(rows, start=1):
            yield row
            if count & 1023 == 0:
                now = time.perf_counter()
                if self.progress is not None and now - last >= self.every:
                    self.progress(self.flow, resource, count)
                    last = now
                if now - last_log >= self.log_every:
                    log.info("flow %r, resource %r: %d rows (%.0f rows/s)", self.flow,
                             resource, count, count / (now - start))
                    last_log = now
        self.counts[resource] = count
        if self.progress is not None:
            self.progress(self.flow, resource, count)


def write_descriptor(staged: str, descriptor: dict[str, Any]) -> None:
    with open(os.path.join(staged, DESCRIPTOR), "w", encoding="utf-8") as handle:
        json.dump(descriptor, handle, indent=2, sort_keys=True)


def finish_descriptor(staged: str, factory: str, flow: str, print_: str, run_id: str,
                       counts: dict[str, int], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    path = os.path.join(staged, DESCRIPTOR)
    with open(path, encoding="utf-8") as handle:
        descriptor: dict[str, Any] = json.load(handle)
    digest = hashlib.sha256()
    for resource in descriptor.get("resources", []):
        # dataflows adds its counters to the values a loaded upstream descriptor already
        # carried (bytes, count_of_rows, hash), and counts rows per package only: we
        # measure each resource file ourselves.
        resource["count_of_rows"] = counts.get(resource["name"], 0)
        resource["bytes"], resource["hash"] = measure(os.path.join(staged, resource["path"]))
        digest.update(f"{resource['name']}\0{resource['hash']}\0{resource['bytes']}\n".encode())
    resources = descriptor.get("resources", [])
    descriptor["count_of_rows"] = sum(r["count_of_rows"] for r in resources)
    descriptor["bytes"] = sum(r["bytes"] for r in resources)
    descriptor.pop("hash", None)
    descriptor["dff"] = {
        "factory": factory,
        "flow": flow,
        "fingerprint": print_,
        "content_hash": digest.hexdigest(),
        "run_id": run_id,
        "produced_at": now(),
        **(extra or {}),
    }
    write_descriptor(staged, descriptor)
    return descriptor


def measure(path: str) -> tuple[int, str]:
    digest = hashlib.md5(usedforsecurity=False)
    size = 0
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


