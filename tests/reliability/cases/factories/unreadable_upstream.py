from dataflows import Flow, load

from dataflows_factory import Factory

factory = Factory("cases", store="data")

@factory.flow()
def source():
    return Flow(load("in.csv", name="source"))

@factory.flow()
def report(source):
    return Flow(source)
