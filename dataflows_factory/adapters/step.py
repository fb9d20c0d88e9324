"""Execute ONE step. The local runner and every orchestrator run flows only through here.

``run_step`` rebuilds the factory from an import reference (so any worker process can call
it), injects upstream datasets, streams the flow row by row into a staging folder, and
publishes the dataset atomically. It returns a small JSON-serialisable :class:`StepResult`:
orchestrators pass that around, never rows.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import logging
import os
import re
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from dataflows import Flow, load

from .._compat import check_tabulator
from .._fingerprint import code_hash, file_hash, fingerprint
from ..errors import FactoryError, FlowExecutionError
from ..factory import Factory, load_factory
from ..flow import DatasetStep, FlowSpec
from ..partitions import part_dataset
from ..processors._adopt import path_dumper
from ..store import DESCRIPTOR, Store, redact
from ._interrupt import publishing
from ._tracking import RowTracker, execution_error

__all__ = ["Progress", "StepResult", "dataset_name", "new_run_id", "run_step", "step_fingerprint"]

log = logging.getLogger("dataflows_factory.step")

Progress = Callable[[str, str, int], None]
"""Called as ``progress(flow, resource, rows_so_far)`` while a flow streams."""

SUCCEEDED, SKIPPED, FAILED = "succeeded", "skipped", "failed"

@dataclass(frozen=True)
class StepResult:
    """What one flow run produced: where, how much, what shape, how long; never rows."""

    factory: str
    flow: str
    status: str
    dataset_uri: str
    rows: dict[str, int] = field(default_factory=dict)
    schema: dict[str, Any] = field(default_factory=dict)
    bytes: int = 0
    content_hash: str = ""
    fingerprint: str = ""
    duration: float = 0.0
    started_at: str = ""
    finished_at: str = ""
    run_id: str = ""
    attempt: int = 1
    error: dict[str, Any] | None = None
    partition: str | None = None

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StepResult:
        return cls(**data)


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def run_step(
    factory_ref: str | Factory,
    flow_name: str,
    *,
    store: str | os.PathLike[str] | Store | None = None,
    force: bool = False,
    run_id: str | None = None,
    attempt: int = 1,
    progress: Progress | None = None,
    partition: str | None = None,
) -> StepResult:
    """Run one flow of a factory and publish its dataset; skip it if nothing changed.

    Raises :class:`FlowExecutionError` (naming the flow, the processor and, for data
    errors, the resource, row and field) when the flow fails; the previous dataset is then
    left exactly as it was.

    For a partitioned flow, ``partition`` runs one partition into its own part; without
    it, the parts are united into the flow's dataset (every part must exist).
    """
    check_tabulator()
    factory, spec, target = _resolve(factory_ref, flow_name, store)
    run_id = run_id or new_run_id()
    if spec.partitions is not None and partition is None:
        from ._parts import merge_parts

        return merge_parts(factory, spec, target, force=force, run_id=run_id, attempt=attempt)
    try:
        return _run_one(factory, spec, target, force=force, run_id=run_id, attempt=attempt,
                        progress=progress, partition=partition)
    except FlowExecutionError as error:
        if partition is None or error.partition is not None:
            raise
        raise error.in_partition(partition) from error


def _run_one(
    factory: Factory, spec: FlowSpec, target: Store, *, force: bool, run_id: str, attempt: int,
    progress: Progress | None, partition: str | None,
) -> StepResult:
    flow_name = spec.name
    dataset = dataset_name(factory, spec, partition)
    started, clock = _now(), time.perf_counter()
    uri = target.dataset_url(factory.name, dataset)

    with contextlib.ExitStack() as stack:
        # Concurrent runs on one store: one writer per flow, no swap under a reader.
        stack.enter_context(target.lock(factory.name, dataset, spec.upstream))
        prepared = _prepare(factory, spec, target, stack, partition)
        previous = target.read_descriptor(factory.name, dataset)
        if (not force and previous is not None
                and previous.get("dff", {}).get("fingerprint") == prepared.fingerprint
                and target.has_files(factory.name, dataset, previous)):
            log.info("flow %r unchanged (fingerprint %s): skipped", dataset,
                     prepared.fingerprint[:12])
            return _result(factory.name, flow_name, SKIPPED, uri, previous, prepared.fingerprint,
                           started, clock, run_id, attempt, partition)

        prepared.fetch_inputs()
        with target.staging(factory.name, dataset) as staged:
            counter = _RowCounter(flow_name, progress)
            _stream(flow_name, Flow(prepared.flow, counter.step, path_dumper(staged)))
            descriptor = _finish_descriptor(
                staged, factory.name, flow_name, prepared.fingerprint, run_id, counter.counts,
                extra={"partition": partition} if partition is not None else None)
            with publishing():  # none after an interruption; a started one completes
                target.publish(factory.name, dataset, staged)
    result = _result(factory.name, flow_name, SUCCEEDED, uri, descriptor, prepared.fingerprint,
                     started, clock, run_id, attempt, partition)
    log.info("flow %r done: %d rows in %.2fs (%.0f rows/s) -> %s", dataset, result.total_rows,
             result.duration, result.total_rows / max(result.duration, 1e-9), redact(uri))
    return result


def step_fingerprint(
    factory_ref: str | Factory,
    flow_name: str,
    *,
    store: str | os.PathLike[str] | Store | None = None,
    partition: str | None = None,
) -> str:
    """The fingerprint ``run_step`` would compute now: code, params, inputs' hashes, files.

    Reads only descriptors and local input files; for orchestrator cache keys.
    """
    factory, spec, target = _resolve(factory_ref, flow_name, store)
    if spec.partitions is not None and partition is None:
        from ._parts import parts_fingerprint

        return parts_fingerprint(factory, spec, target)[0]
    dataset_name(factory, spec, partition)  # validates the partition
    with contextlib.ExitStack() as stack:
        return _prepare(factory, spec, target, stack, partition).fingerprint


def dataset_name(factory: Factory, spec: FlowSpec, partition: str | None) -> str:
    """Where a run writes in the store: the flow's name, or ``flow@key`` for one partition."""
    if partition is None:
        return spec.name
    if spec.partitions is None:
        raise FlowExecutionError(spec.name, f"flow is not partitioned; got partition {partition!r}")
    if partition not in spec.partitions.resolve(factory.root):
        raise FlowExecutionError(spec.name, f"unknown partition {partition!r}")
    return part_dataset(spec.name, partition)


def _resolve(
    factory_ref: str | Factory, flow_name: str, store: str | os.PathLike[str] | Store | None
) -> tuple[Factory, FlowSpec, Store]:
    factory = load_factory(factory_ref)
    spec = factory.flows.get(flow_name)
    if spec is None:
        raise FlowExecutionError(
            flow_name, f"factory {factory.name!r} has no such flow; known: {sorted(factory.flows)}")
    return factory, spec, factory.store(store)


@dataclass
class _Prepared:
    flow: Flow
    fingerprint: str
    downloads: list[tuple[str, str]]  # (upstream flow, local folder) for remote stores
    store: Store
    factory: str

    def fetch_inputs(self) -> None:
        for name, folder in self.downloads:
            self.store.download(self.factory, name, folder)


def _prepare(factory: Factory, spec: FlowSpec, store: Store, stack: contextlib.ExitStack,
             partition: str | None = None) -> _Prepared:
    """Build the flow with its inputs wired in and compute its fingerprint; reads no rows."""
    datasets: dict[str, DatasetStep] = {}
    hashes: dict[str, str | None] = {}
    downloads: list[tuple[str, str]] = []
    scratch: str | None = None
    for name in spec.inputs:
        descriptor = store.read_descriptor(factory.name, name)
        if descriptor is None:
            raise FlowExecutionError(
                spec.name,
                f"the dataset of upstream flow {name!r} does not exist at "
                f"{redact(store.dataset_url(factory.name, name))}; run {name!r} first",
                processor=f"input {name!r}", cause_type="DatasetNotFoundError")
        hashes[name] = descriptor.get("dff", {}).get("content_hash")
        if store.is_local:
            path = store.descriptor_url(factory.name, name)
        else:
            if scratch is None:
                scratch = stack.enter_context(tempfile.TemporaryDirectory(prefix="dff-inputs-"))
            folder = os.path.join(scratch, name)
            downloads.append((name, folder))
            path = os.path.join(folder, DESCRIPTOR)
        datasets[name] = DatasetStep(name, path)
    for name in spec.after:
        # Order-only upstreams pass no data, but when they produce something new the flow
        # after them is expected to run again (a publish step after its metrics, say).
        if name not in hashes:
            after = store.read_descriptor(factory.name, name) or {}
            hashes["after:" + name] = after.get("dff", {}).get("content_hash")
    try:
        built = spec.build(datasets, partition=partition)
    except FactoryError:
        raise
    except Exception as cause:
        raise execution_error(spec.name, cause, building=True) from cause
    files = _resolve_sources(built, str(factory.root))
    params = {**spec.params, "partition": partition} if partition is not None else spec.params
    print_ = fingerprint(code_hash(spec.func), params, hashes, files)
    return _Prepared(built, print_, downloads, store, factory.name)


def _iter_steps(steps: Any) -> Iterator[Any]:
    for step in steps:
        if isinstance(step, Flow):
            yield from _iter_steps(step.chain)
        else:
            yield step


_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]+://")


def _resolve_sources(flow: Flow, root: str) -> dict[str, str]:
    """Point relative ``load()`` sources at the factory's root; hash the local files read."""
    files: dict[str, str] = {}
    for step in _iter_steps(flow.chain):
        if not isinstance(step, load) or isinstance(step, DatasetStep):
            continue
        source = step.load_source
        if not isinstance(source, str) or _URL.match(source) or source.startswith("env://"):
            continue
        if not os.path.isabs(source):
            candidate = os.path.join(root, source)
            if os.path.exists(candidate) or not os.path.exists(source):
                source = step.load_source = candidate
        if os.path.isfile(source):
            files[os.path.relpath(source, root)] = file_hash(source)
    return files


class _RowCounter:
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


def _stream(flow_name: str, flow: Flow) -> None:
    # Not Flow.process(): dataflows logs and swallows CastError there; we raise everything.
    # The tracker counts the rows entering each function step, so a failing row function
    # is reported with its resource and row number (our own counter step is not blamed).
    tracker = RowTracker(ignore=("_RowCounter.",))
    try:
        last = flow._chain()
        tracker.install(last)
        datastream = last._process()
        for resource in datastream.res_iter:
            collections.deque(resource, maxlen=0)
    except FactoryError:
        raise
    except Exception as cause:
        raise execution_error(flow_name, cause, tracker=tracker) from cause


def _write_descriptor(staged: str, descriptor: dict[str, Any]) -> None:
    with open(os.path.join(staged, DESCRIPTOR), "w", encoding="utf-8") as handle:
        json.dump(descriptor, handle, indent=2, sort_keys=True)


def _finish_descriptor(staged: str, factory: str, flow: str, print_: str, run_id: str,
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
        resource["bytes"], resource["hash"] = _measure(os.path.join(staged, resource["path"]))
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
        "produced_at": _now(),
        **(extra or {}),
    }
    _write_descriptor(staged, descriptor)
    return descriptor


def _measure(path: str) -> tuple[int, str]:
    digest = hashlib.md5(usedforsecurity=False)
    size = 0
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def _result(
    factory: str, flow: str, status: str, uri: str, descriptor: dict[str, Any], print_: str,
    started: str, clock: float, run_id: str, attempt: int, partition: str | None = None,
) -> StepResult:
    resources = descriptor.get("resources", [])
    return StepResult(
        factory=factory,
        flow=flow,
        status=status,
        dataset_uri=redact(uri),
        rows={r["name"]: int(r.get("count_of_rows") or 0) for r in resources},
        schema={r["name"]: r.get("schema", {}) for r in resources},
        bytes=sum(int(r.get("bytes") or 0) for r in resources),
        content_hash=descriptor.get("dff", {}).get("content_hash", ""),
        fingerprint=print_,
        duration=round(time.perf_counter() - clock, 4),
        started_at=started,
        finished_at=_now(),
        run_id=run_id,
        attempt=attempt,
        partition=partition,
    )
