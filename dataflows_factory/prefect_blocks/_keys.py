"""Deterministic, sanitized identifiers: artifact keys, cache keys, flow function names.

Pure functions of their arguments (no Prefect import), so ids are stable across processes
and machines and can be unit-tested without an API.
"""

from __future__ import annotations

import hashlib
import sys

from .._naming import safe_id

__all__ = ["artifact_key", "cache_key", "python_name"]


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def artifact_key(factory: str, flow: str) -> str:
    """The artifact key of a flow's dataset: lowercase letters, digits and dashes, as Prefect requires.

    >>> artifact_key("world", "key_metrics")
    'dff-world-key-metrics'

    Case and ``_`` versus ``-`` are not told apart; any other character Prefect rejects
    is rewritten, and then, like a key longer than 60 characters, gets a stable hash suffix
    (of the factory and flow names), so that two flows never share a key.
    """
    key = f"dff-{factory}-{flow}".lower().replace("_", "-")
    return safe_id(key, allowed="a-z0-9", max_length=60, fill="-", sep="-", strip="-", strip_cut=True,
                   digest_of=f"{factory}\0{flow}")


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


def python_name(name: str) -> str:
    """A Python identifier for a flow function named after ``name`` (``"world"`` -> ``"world_flow"``)."""
    ident = safe_id(name, allowed=r"\w", max_length=sys.maxsize, strip="_", empty="factory",
                    hash_rewrites=False)
    if ident[0].isdigit():
        ident = "_" + ident
    return f"{ident}_flow"
