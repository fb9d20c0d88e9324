"""Deterministic, sanitized identifiers: artifact keys, cache keys, flow function names.

Pure functions of their arguments (no Prefect import), so ids are stable across processes
and machines and can be unit-tested without an API.
"""

from __future__ import annotations

import hashlib
import re

__all__ = ["artifact_key", "cache_key", "python_name", "unit_id"]

_MAX = 60


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _slug(text: str) -> str:
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9]+", "-", text.lower())).strip("-")


def artifact_key(factory: str, flow: str) -> str:
    """The artifact key of a flow's dataset: lowercase letters, digits and dashes, as Prefect requires.

    >>> artifact_key("world", "key_metrics")
    'dff-world-key-metrics'

    Keys longer than 60 characters are truncated with a stable hash suffix, and so are
    names that only differ by characters the slug drops, which would otherwise collide.
    """
    key = _slug(f"dff-{factory}-{flow}")
    if len(key) > _MAX or key != f"dff-{factory}-{flow}".lower().replace("_", "-"):
        suffix = _digest(factory, flow)[:8]
        key = f"{key[:_MAX - 9].rstrip('-')}-{suffix}"
    return key


def cache_key(store_url: str, factory: str, flow: str, fingerprint: str, *,
              partition: str | None = None) -> str:
    """The Prefect cache key of one flow (or one partition): its fingerprint, scoped.

    Two factories (or two stores) whose flows happen to share a fingerprint never share a
    cached result: the store URL and names are part of the key, and so is the partition.

    >>> cache_key("/data", "world", "countries", "ab12")[:30]
    'dff-world-countries-761343640c'
    """
    parts: tuple[str, ...] = (store_url, factory, flow, fingerprint)
    if partition is not None:  # appended, so unpartitioned keys stay what they were
        parts += ("partition", partition)
    return f"{artifact_key(factory, flow)}-{_digest(*parts)[:32]}"


def unit_id(flow: str, partition: str | None = None) -> str:
    """The name of a unit of work: ``flow``, or ``flow[value]`` for one partition of it.

    The same ids as the local runner's report, used for task run names and result keys.

    >>> unit_id("sales"), unit_id("sales", "raw/eu.csv")
    ('sales', 'sales[raw/eu.csv]')
    """
    return flow if partition is None else f"{flow}[{partition}]"


def python_name(name: str) -> str:
    """A Python identifier for a flow function named after ``name`` (``"world"`` -> ``"world_flow"``)."""
    ident = re.sub(r"\W+", "_", name).strip("_") or "factory"
    if ident[0].isdigit():
        ident = "_" + ident
    return f"{ident}_flow"
