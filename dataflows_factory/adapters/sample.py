"""Sample runs (``dff run --limit N``): every source hands on at most N rows, into a scratch store.

A sample run is for trying a factory on a little of its data: each ``load`` (a file, a URL,
an upstream dataset) and each iterable of rows in a flow hands on at most ``limit`` rows per
resource, so a flow over a big file finishes in a moment. What it writes goes to a scratch
store, never the factory's real one: by default ``.dff-sample/`` beside the factory file
(``<root>/.dff-sample/<factory>/<flow>``), or the ``store`` given. The selected flows' upstream
flows run sampled too (a scratch store starts empty) and nothing is skipped as unchanged;
the datasets' fingerprints include the limit, so a full run on that store never keeps them.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from typing import Any

from .. import _dataflows
from ..errors import FlowExecutionError, SampleStoreError
from ..factory import Factory
from ..store import Store, redact

__all__ = ["SCRATCH", "cap_sources", "sample_fingerprint", "sample_selection", "sample_store"]

SCRATCH = ".dff-sample"
"""The default scratch store of sample runs, a folder beside the factory file."""


def sample_store(factory: Factory, store: str | os.PathLike[str] | Store | None) -> Store:
    """Where a sample run of ``factory`` writes: ``store`` if given, else ``<root>/.dff-sample``;
    never the store a normal run would write to."""
    scratch = factory.store(store) if store is not None else Store(str(factory.root / SCRATCH))
    real = factory.store()
    if scratch == real:
        raise SampleStoreError(
            f"factory {factory.name!r}: a sample run (--limit) never writes to the factory's store "
            f"{redact(real.url)}; give another --store, or none for {factory.root / SCRATCH}")
    return scratch


def sample_selection(factory: Factory, select: str | Iterable[str] | None) -> list[str] | None:
    """``select`` with every selected flow's upstream flows: a scratch store has nothing
    for them to read otherwise."""
    if select is None:
        return None
    return [f"+{name}" for name in factory.plan(select=select).names]


def cap_sources(flow: str, limit: int) -> Callable[[Any], None]:
    """An install hook for :func:`~.._dataflows.stream`: each source step of the linked
    chain hands on at most ``limit`` rows of each resource it adds."""
    if not _dataflows.supported():
        # stream() installs nothing then: the "sample" would be the whole data.
        raise FlowExecutionError(
            flow, "a sample run (--limit) needs the dataflows, tabulator, tableschema and "
                  "datapackage versions this package was verified with (a warning named the "
                  "one that is not); install those, or run without --limit",
            cause_type="SampleError")

    def install(last: Any) -> None:
        for processor in _dataflows.processors_of(last):
            if _dataflows.is_source(processor):
                _dataflows.cap_new_resources(processor, limit)

    return install


def sample_fingerprint(fingerprint: str, limit: int) -> str:
    """The fingerprint of a sample of ``limit`` rows per source of what ``fingerprint`` names."""
    return hashlib.sha256(f"{fingerprint}\0limit={limit}".encode()).hexdigest()
