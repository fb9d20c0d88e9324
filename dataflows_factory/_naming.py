"""The one id sanitizer: a name -> a safe, deterministic id for a given alphabet and length.

Every id an engine sees (Airflow task ids, Prefect artifact keys, Dagster names and partition
keys, the store's ``flow@<key>`` part folders) comes from :func:`safe_id`; each engine only
chooses its alphabet and length. Pure and import-free, so ids are the same in every process.
"""

from __future__ import annotations

import hashlib
import re

__all__ = ["safe_id"]

_DIGEST = 8  # hex characters of the hash suffix


def safe_id(
    name: str,
    *,
    allowed: str = r"A-Za-z0-9_.-",
    max_length: int = 250,
    fill: str = "_",
    sep: str = "_",
    strip: str = "",
    empty: str = "",
    squeeze: bool = True,
    hash_rewrites: bool = True,
    strip_cut: bool = False,
    digest_of: str | None = None,
    algorithm: str = "sha256",
) -> str:
    """``name`` as an id made of the ``allowed`` characters (a regex character class body).

    A name that is already a valid id is returned unchanged. Otherwise each run of other
    characters becomes ``fill`` (each character, with ``squeeze=False``), the ends lose the
    ``strip`` characters (an empty result becomes ``empty``), and a stable hash of the name
    is appended after ``sep``, so that two names never share an id; an id longer than
    ``max_length`` is cut to make room for that suffix.

    >>> safe_id("key_metrics")
    'key_metrics'
    >>> safe_id("sales report")
    'sales_report_54d4cf70'
    >>> safe_id("raw/eu.csv", max_length=64, sep="-", strip="._-", empty="_")
    'raw_eu.csv-4563bbe8'
    >>> len(safe_id("x" * 300)), safe_id("x" * 300)[-9:]
    (250, '_0d4e2ca9')

    The other arguments keep each engine's ids what they have always been:

    - ``squeeze=False``, ``hash_rewrites=False``, ``algorithm="sha1"``: Dagster names, which
      replace character by character and add a hash (of sha1) only when cut, so that two
      names differing only in rejected characters share a name;
    - ``strip_cut=True``: the cut text loses its trailing ``strip`` characters too (Prefect);
    - ``digest_of``: the text hashed instead of ``name``, when ``name`` was derived from
      something more precise (Prefect hashes the factory and flow names, not the key).

    >>> safe_id("a  b!", allowed="A-Za-z0-9_", squeeze=False, hash_rewrites=False)
    'a__b_'
    """
    cleaned = re.sub(f"[^{allowed}]" + ("+" if squeeze else ""), fill, name).strip(strip) or empty
    if cleaned and len(cleaned) <= max_length and (cleaned == name or not hash_rewrites):
        return cleaned
    head = cleaned[: max_length - len(sep) - _DIGEST]
    if strip_cut:
        head = head.rstrip(strip)
    source = name if digest_of is None else digest_of
    digest = hashlib.new(algorithm, source.encode(), usedforsecurity=False).hexdigest()[:_DIGEST]
    return f"{head}{sep}{digest}"
