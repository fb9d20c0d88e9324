"""The shared partitioned shop factory (``tests/shop.py``) as a file workers import by reference.

One partition per ``raw/*.csv`` file (written from ``shop.AMOUNTS`` by the suite), merged
into ``sales``, which ``total`` reads.
"""

from dataflows import Flow, load

from dataflows_factory import Factory
from dataflows_factory.partitions import files

factory = Factory("shop", store="data")


@factory.flow(partitions=files("raw/*.csv"))
def sales(partition):
    return Flow(load(partition, name="sales"))


@factory.flow()
def total(sales):
    return Flow(sales)
