"""What ``dff init --from`` reads: each SOURCE argument as the table files or URLs it names.

A SOURCE is a file, a glob (``raw/*.csv``), a folder (every table file under it) or an
http(s)/s3 URL of one file. This module only lists; it reads no data, so a typo fails
before anything is opened, with the source named.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import FactoryError

__all__ = ["TABLE_SUFFIXES", "Source", "SourceError", "expand"]

# What dataflows' load (tabulator) reads, by file suffix; .gz/.zip of any of them too.
TABLE_SUFFIXES = (".csv", ".tsv", ".json", ".jsonl", ".ndjson", ".xlsx", ".xls", ".ods")
_COMPRESSED = (".gz", ".zip")
_URL_SCHEMES = ("http://", "https://", "s3://")


class SourceError(FactoryError, ValueError):
    """A ``--from`` source that cannot be listed or read; the message names it and says why."""


@dataclass(frozen=True)
class Source:
    """One table to read: a local file (``path``) or a URL, and the argument that named it."""

    location: str
    given: str
    path: Path | None = None  # absolute, for local files

    @property
    def is_url(self) -> bool:
        return self.path is None

    @property
    def label(self) -> str:
        """How messages name the table: the URL, or the path as the user wrote it."""
        if self.path is None:
            return self.location
        given = Path(self.given)
        if given.is_dir() or glob.has_magic(self.given):
            return self.location
        return self.given


def is_table_file(name: str) -> bool:
    lowered = name.lower()
    for suffix in _COMPRESSED:
        lowered = lowered.removesuffix(suffix)
    return lowered.endswith(TABLE_SUFFIXES)


def expand(given: str, cwd: Path) -> tuple[list[Source], list[str]]:
    """The tables ``given`` names (sorted), and a note for each file of a folder it skipped.

    Raises :class:`SourceError` when it names nothing readable.
    """
    if given.startswith(_URL_SCHEMES):
        if given.endswith("/") or glob.has_magic(given.split("?")[0]):
            raise SourceError(f"{given}: a URL must name one file (folders and globs work on local paths)")
        return [Source(given, given)], []
    if "://" in given:
        scheme = given.split("://")[0]
        raise SourceError(f"{given}: {scheme}:// is not supported; use a local path, http(s):// or s3://")
    path = Path(os.path.abspath(cwd / os.path.expanduser(given)))  # cwd is ignored for absolute paths
    if glob.has_magic(given):
        found = sorted(Path(m) for m in glob.glob(str(path), recursive=True) if os.path.isfile(m))
        return _tables(given, found, what="matches")
    if path.is_dir():
        found = sorted(p for p in path.rglob("*") if p.is_file()
                       and not any(part.startswith(".") for part in p.relative_to(path).parts))
        return _tables(given, found, what="holds")
    if not path.exists():
        raise SourceError(f"{given}: no such file or folder")
    if not is_table_file(path.name):
        raise SourceError(f"{given}: unknown format {path.suffix or '(no suffix)'!r}; dataflows' load reads "
                          + ", ".join(TABLE_SUFFIXES))
    return [Source(str(path), given, path)], []


def _tables(given: str, found: list[Path], *, what: str) -> tuple[list[Source], list[str]]:
    tables = [Source(str(p), given, p) for p in found if is_table_file(p.name)]
    skipped = [f"{p}: skipped, not a table file" for p in found if not is_table_file(p.name)]
    if not tables:
        raise SourceError(f"{given}: {what} no table file ({', '.join(TABLE_SUFFIXES)})")
    return tables, skipped
