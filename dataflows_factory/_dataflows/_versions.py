"""The library versions the uses of private parts were verified with, and the check."""

from __future__ import annotations

import functools
import importlib.metadata
import re
import warnings

# package -> [lowest supported, first unsupported) version, compared as tuples of ints.
SUPPORTED: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "dataflows": ((0, 5, 12), (0, 5, 13)),
    "tabulator": ((1, 54), (1, 55)),  # the module, as dataflows-tabulator installs it
    "tableschema": ((1, 21), (1, 22)),
    "datapackage": ((1, 15, 4), (1, 16)),
}


class UnsupportedVersionWarning(RuntimeWarning):
    """A library's version is outside :data:`SUPPORTED`: the fast paths are off."""


# ---------------------------------------------------------------- versions

def installed_version(package: str) -> str | None:
    """The installed version of ``package`` (one of :data:`SUPPORTED`), or ``None``."""
    if package == "tabulator":
        # Two distributions (tabulator, dataflows-tabulator) install this module: ask the one
        # that is actually imported.
        import tabulator

        return str(getattr(tabulator, "__version__", "") or "") or None
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _parse(version: str | None) -> tuple[int, ...] | None:
    match = re.match(r"\d+(?:\.\d+)*", version or "")
    return tuple(int(part) for part in match.group().split(".")) if match else None


def _span(low: tuple[int, ...], high: tuple[int, ...]) -> str:
    return f">={'.'.join(map(str, low))},<{'.'.join(map(str, high))}"


@functools.cache
def supported() -> bool:
    """Whether every library in :data:`SUPPORTED` is within its range (checked once).

    When one is not, warns once (:class:`UnsupportedVersionWarning`, naming the package, its
    version and the supported range) and returns ``False``: callers then run plain dataflows.
    """
    outside = []
    for package, (low, high) in SUPPORTED.items():
        version = installed_version(package)
        parsed = _parse(version)
        if parsed is None or not low <= parsed < high:
            outside.append(f"{package} {version} (supported: {_span(low, high)})")
    if outside:
        warnings.warn(
            f"dataflows-factory: {'; '.join(outside)} is outside the versions its fast paths "
            "were verified with; they are off and plain dataflows runs (same datasets, slower)",
            UnsupportedVersionWarning, stacklevel=2)
        return False
    return True
