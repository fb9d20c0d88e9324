"""``to_sql``: write resources to SQL tables, with names checked and credentials hidden.

A thin layer over ``dataflows.dump_to_sql`` (which does the writing, in batches, through
``tableschema-sql``). What it adds: table and schema names must be plain identifiers (they
are also quoted by SQLAlchemy, but a name like ``t; DROP TABLE x`` is a mistake or an
attack either way, so it fails before anything connects); one ``mode`` for all tables;
the engine URL's password never reaches an error message or a log line.

    >>> from dataflows import Flow, load
    >>> flow = Flow(load("raw/orders.csv"),
    ...             to_sql({"orders": "orders"}, engine="postgresql+psycopg2://u@db/shop",
    ...                    mode="update", update_keys=["id"]))
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from dataflows import Flow, dump_to_sql

from ..errors import InvalidTableNameError
from ..store import redact

__all__ = ["MODES", "to_sql"]

MODES = ("rewrite", "append", "update")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def _check(name: object, what: str) -> str:
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise InvalidTableNameError(
            f"to_sql: {what} name {name!r} is not a plain SQL identifier: use letters, digits "
            "and '_' (at most 63, not starting with a digit)"
        )
    return name


def to_sql(
    tables: Mapping[str, str],
    *,
    engine: Any,
    mode: str = "rewrite",
    update_keys: Sequence[str] | None = None,
    db_schema: str | None = None,
    batch_size: int = 1000,
) -> Any:
    """Write resources to SQL tables: ``tables`` maps table name -> resource name.

    ``engine`` is a SQLAlchemy URL, ``env://VAR`` or an ``Engine``. ``mode`` is
    ``rewrite`` (drop and recreate), ``append`` or ``update`` (upsert on ``update_keys``,
    default the resource's primary key). ``db_schema`` writes into that database schema.
    """
    if mode not in MODES:
        raise InvalidTableNameError(f"to_sql: mode {mode!r} is not one of {list(MODES)}")
    for table in tables:
        _check(table, "table")
    if db_schema is not None:
        _check(db_schema, "schema")
    if isinstance(engine, str) and not engine.startswith("env://"):
        engine = _engine(engine, db_schema)
    elif db_schema is not None and not isinstance(engine, str):
        engine = engine.execution_options(schema_translate_map={None: db_schema})
    specs: dict[str, dict[str, Any]] = {}
    for table, resource in tables.items():
        spec: dict[str, Any] = {"resource-name": resource, "mode": mode}
        if update_keys is not None:
            spec["update_keys"] = list(update_keys)
        specs[table] = spec

    def check_resources(package: Any) -> Any:
        # dump_to_sql skips a resource name that matches nothing: a typo would write no table.
        names = [resource.name for resource in package.pkg.resources]
        missing = {table: name for table, name in tables.items() if name not in names}
        if missing:
            raise ValueError(
                "to_sql: " + ", ".join(f"table {t!r} names resource {n!r}" for t, n in missing.items())
                + f", which the flow does not have; its resources are {names}")
        yield package.pkg
        yield from package

    return Flow(check_resources, dump_to_sql(specs, engine=engine, batch_size=batch_size))


def _engine(url: str, db_schema: str | None) -> Any:
    from sqlalchemy import create_engine
    from sqlalchemy.exc import SQLAlchemyError

    options: dict[str, Any] = {}
    if db_schema is not None and url.startswith("postgresql"):
        # tableschema-sql reflects tables in the default schema, so point the connection's
        # search_path at the schema rather than translating names (reflection ignores that).
        options["connect_args"] = {"options": f"-csearch_path={db_schema}"}
    try:
        engine = create_engine(_quoted_userinfo(url), **options)
    except (SQLAlchemyError, ImportError, ValueError) as cause:
        # SQLAlchemy's messages may repeat the URL; ours never show the password.
        raise ValueError(f"to_sql: cannot use engine {redact(url)!r}: {redact(str(cause))}") from None
    if db_schema is not None and not options:
        engine = engine.execution_options(schema_translate_map={None: db_schema})
    return engine


def _quoted_userinfo(url: str) -> str:
    """``url`` with a raw ``@`` of its user or password percent-encoded.

    SQLAlchemy reads ``user:p@ss@host`` as password ``p`` on host ``ss@host``: the connection
    fails, and the driver's error names that "host", a piece of the password. The last
    ``@`` before the query is the one that ends the password.
    """
    scheme, separator, rest = url.partition("://")
    location, question, query = rest.partition("?")
    userinfo, _, host = location.rpartition("@")
    if not separator or "@" not in userinfo:
        return url
    return f"{scheme}://{userinfo.replace('@', '%40')}@{host}{question}{query}"
