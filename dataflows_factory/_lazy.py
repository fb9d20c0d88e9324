"""Lazy package attributes: names imported from their module on first use."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, names: Mapping[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A module ``__getattr__`` and ``__dir__`` that import ``names[attr]`` (a relative
    module) when ``attr`` is first asked for, then cache it in ``namespace``.

    >>> __getattr__, __dir__ = lazy_exports(__name__, {"build_dag": ".dag"}, globals())
    """

    def get(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        namespace[name] = value
        return value

    def listing() -> list[str]:
        return sorted({*namespace.get("__all__", ()), *names})

    return get, listing
