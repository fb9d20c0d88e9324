from dataflows import Flow

from dataflows_factory import Factory

factory = Factory("cases", store="data")

@factory.flow(after=["gamma"])
def alpha():
    return Flow([{"x": 1}])

@factory.flow(after=["alpha"])
def beta():
    return Flow([{"x": 1}])

@factory.flow(after=["beta"])
def gamma():
    return Flow([{"x": 1}])
