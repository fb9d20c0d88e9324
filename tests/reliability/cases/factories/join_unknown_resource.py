from dataflows import Flow, join, load

from dataflows_factory import Factory

factory = Factory("cases", store="data")

@factory.flow()
def left():
    return Flow(load("in.csv", name="left"))

@factory.flow()
def joined(left):
    return Flow(left, join("lefty", ["a"], "left", ["a"], fields={"b2": {"name": "b"}}))
