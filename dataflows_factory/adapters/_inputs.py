"""A step's inputs: the factory and flow it names, the upstream datasets wired in, the local
files it loads, and the fingerprint of all of them (what skip-unchanged compares)."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from dataflows import Flow, load

from .._fingerprint import code_hash, file_hash, fingerprint
from ..errors import FactoryError, FlowExecutionError
from ..factory import Factory, load_factory
from ..flow import DatasetStep, FlowSpec
from ..store import DESCRIPTOR, Store, redact
from ._tracking import execution_error

__all__ = ["Prepared", "prepare", "resolve"]


def resolve(
    factory_ref: str | Factory, flow_name: str, store: str | os.PathLike[str] | Store | None
) -> tuple[Factory, FlowSpec, Store]:
    factory = load_factory(factory_ref)
    spec = factory.flows.get(flow_name)
    if spec is None:
        raise FlowExecutionError(
            flow_name, f"factory {factory.name!r} has no such flow; known: {sorted(factory.flows)}")
    return factory, spec, factory.store(store)


@dataclass
class Prepared:
    flow: Flow
    fingerprint: str
    downloads: list[tuple[str, str]]  # (upstream flow, local folder) for remote stores
    store: Store
    factory: str

    def fetch_inputs(self) -> None:
        for name, folder in self.downloads:
            self.store.download(self.factory, name, folder)


def prepare(factory: Factory, spec: FlowSpec, store: Store, stack: contextlib.ExitStack,
             partition: str | None = None) -> Prepared:
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
    return Prepared(built, print_, downloads, store, factory.name)


def iter_steps(steps: Any) -> Iterator[Any]:
    for step in steps:
        if isinstance(step, Flow):
            yield from iter_steps(step.chain)
        else:
            yield step


_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]+://")


def _resolve_sources(flow: Flow, root: str) -> dict[str, str]:
    """Point relative ``load()`` sources at the factory's root; hash the local files read."""
    files: dict[str, str] = {}
    for step in iter_steps(flow.chain):
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


