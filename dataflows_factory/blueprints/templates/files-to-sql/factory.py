"""Files to SQL: CSV files loaded as flows, each written to a table of a SQL database.

What ``dff init DIR --from FILES --to postgresql://...`` writes for your own files. The
database is $DFF_SQL_URL (a SQLAlchemy URL) when it is set, else a SQLite file beside this
one, so the project runs as it is: ``dff run``.
"""

import os
from pathlib import Path

from dataflows import Flow, load, set_primary_key

from dataflows_factory import Factory
from dataflows_factory.processors.sql import to_sql

factory = Factory("files_to_sql")  # datasets go to ./data (or $DFF_STORE, or --store URL)

# The database: $DFF_SQL_URL (e.g. postgresql://user:PASSWORD@host:5432/shop), so no password
# is written in this file; without it, warehouse.db (SQLite) beside this file.
SQL_URL = os.environ.get("DFF_SQL_URL", f"sqlite:///{Path(__file__).parent / 'warehouse.db'}")


@factory.flow()
def customers():
    """raw/customers.csv, one row per customer."""
    # Columns: id integer, name string, country string, signed_up date
    return Flow(load("raw/customers.csv", name="customers"), set_primary_key(["id"]))


@factory.flow()
def orders():
    """raw/orders.csv, one row per order."""
    # Columns: id integer, customer integer, placed date, amount number
    return Flow(load("raw/orders.csv", name="orders"), set_primary_key(["id"]))


@factory.flow()
def to_database(customers, orders):
    """Each source's dataset as a table of the SQL database, rewritten on every run."""
    return Flow(
        customers,
        orders,
        to_sql({"customers": "customers", "orders": "orders"}, engine=SQL_URL),
    )
