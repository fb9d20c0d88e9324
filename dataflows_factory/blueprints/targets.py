"""``dff init --to TARGET``: a SQL database (a sink flow) or a store for the datasets.

A database URL is never written into the generated file: the sink reads it from an
environment variable (``env://DFF_SQL_URL``), so a password stays out of version control;
``--to env://VAR`` names another variable. Anything else (``s3://bucket/prefix``, a folder)
becomes the factory's ``store=``, where every flow publishes its dataset.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from .._secrets import redact
from .sources import SourceError

__all__ = ["SQL_ENV", "Target", "parse_target"]

SQL_ENV = "DFF_SQL_URL"
_SQL_SCHEMES = {"postgresql", "postgres", "mysql", "mariadb", "sqlite", "mssql", "oracle", "cockroachdb"}


@dataclass(frozen=True)
class Target:
    """Where the blueprint's datasets go: ``kind`` ``sql`` (``env`` names the variable) or ``store``."""

    kind: str
    store: str = ""  # for a store: the value of Factory(store=...)
    env: str = SQL_ENV  # for SQL: the environment variable holding the URL
    url: str = ""  # for SQL: the URL given, redacted (shown in the README and the next steps)


def parse_target(given: str, cwd: Path, directory: Path) -> Target:
    """Read ``--to``; a relative folder is written relative to the project when it is inside it."""
    scheme = given.split("://", 1)[0].split("+", 1)[0].lower() if "://" in given else ""
    if scheme == "env":
        variable = given[len("env://"):]
        if not variable.isidentifier():
            raise SourceError(f"--to {given}: env:// needs an environment variable name")
        return Target("sql", env=variable, url=f"${variable}")
    if scheme in _SQL_SCHEMES:
        return Target("sql", url=redact(_with_driver(given)))
    if redact(given) != given:
        raise SourceError(f"--to {redact(given)}: the URL holds a credential, which would be written "
                          "into factory.py; give it to the store's client instead (e.g. AWS_* variables)")
    if scheme:
        return Target("store", store=given)
    folder = (cwd / os.path.expanduser(given)).resolve()
    inside = folder.is_relative_to(directory.resolve())
    return Target("store", store=folder.relative_to(directory.resolve()).as_posix() if inside
                  else folder.as_posix())


def _with_driver(url: str) -> str:
    """``postgresql://`` with the driver that is installed: SQLAlchemy's default driver (psycopg
    3 since SQLAlchemy 2.1) is often not the one a machine has (psycopg2)."""
    scheme, rest = url.split("://", 1)
    if scheme not in ("postgresql", "postgres"):
        return url
    for module, driver in (("psycopg", "psycopg"), ("psycopg2", "psycopg2")):
        if importlib.util.find_spec(module) is not None:
            return f"postgresql+{driver}://{rest}"
    return f"postgresql://{rest}"
