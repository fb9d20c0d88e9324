from dataflows import Flow, load

from dataflows_factory import Factory
from dataflows_factory.partitions import files

factory = Factory("cases", store="data")

@factory.flow(partitions=files("raw/*.csv"))
def sales(partition):
    return Flow(load(partition, name="sales"))

@factory.flow()
def other():
    return Flow(load("in.csv", name="other"))
