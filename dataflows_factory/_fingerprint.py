"""Fingerprints: what a flow's output depends on, hashed.

A flow's fingerprint covers its code (the function and the same-module functions and
constants it reaches), its parameters, its upstream datasets' content hashes and the bytes
of the local files it loads. It is recomputed on every run; a stored one is only compared.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import types
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["code_hash", "file_hash", "fingerprint"]

_SIMPLE = (int, float, str, bytes, bool, type(None))


def file_hash(path: str, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def code_hash(func: Callable[..., Any]) -> str:
    """Hash the source of ``func`` and of the same-module functions and constants it uses."""
    parts: list[str] = []
    seen: set[int] = set()
    module = getattr(func, "__module__", None)

    def code_names(code: types.CodeType) -> Iterable[str]:
        yield from code.co_names
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                yield from code_names(const)

    def visit(obj: Any) -> None:
        if id(obj) in seen:
            return
        seen.add(id(obj))
        try:
            parts.append(inspect.getsource(obj))
        except (OSError, TypeError):
            code = getattr(obj, "__code__", None)
            parts.append(repr(code.co_code) if code is not None else repr(obj))
        code = getattr(obj, "__code__", None)
        if code is None:
            return
        namespace = getattr(obj, "__globals__", {})
        for name in sorted(set(code_names(code))):
            value = namespace.get(name)
            reach(name, value)
        for cell in getattr(obj, "__closure__", None) or ():
            try:
                reach("<closure>", cell.cell_contents)
            except ValueError:  # an empty cell
                continue

    def reach(name: str, value: Any) -> None:
        if inspect.isfunction(value) and value.__module__ == module:
            visit(value)
        elif isinstance(value, _SIMPLE) or (
            isinstance(value, tuple | frozenset) and all(isinstance(v, _SIMPLE) for v in value)
        ):
            parts.append(f"{name}={value!r}")

    visit(func)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


# What a run makes of the same code and inputs. A release that changes it (2: a row wider than
# its header fails instead of losing cells) raises this, so datasets built under the old rules
# are rebuilt once instead of being kept as "unchanged".
RULES = 2


def fingerprint(
    code: str,
    params: Mapping[str, Any],
    upstream: Mapping[str, str | None],
    files: Mapping[str, str],
) -> str:
    payload = {
        "rules": RULES,
        "code": code,
        "params": params,
        "upstream": dict(sorted(upstream.items())),
        "files": dict(sorted(files.items())),
    }
    text = json.dumps(payload, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()
