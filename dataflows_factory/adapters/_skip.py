"""Skip-unchanged: may a step reuse the dataset it published before?"""

from __future__ import annotations

from typing import Any

from ..store import Store

__all__ = ["reusable"]


def reusable(store: Store, factory: str, dataset: str, fingerprint: str, *, force: bool = False
             ) -> dict[str, Any] | None:
    """The published descriptor of ``dataset`` when a run with ``fingerprint`` can keep it as
    it is (same fingerprint, every file present with its recorded size); None otherwise.

    Every engine's skip decision is this one: the step executor's, the merge of a
    partitioned flow's, and Prefect's cache check.
    """
    if force:
        return None
    previous = store.read_descriptor(factory, dataset)
    if previous is None or previous.get("dff", {}).get("fingerprint") != fingerprint:
        return None
    return previous if store.has_files(factory, dataset, previous) else None
