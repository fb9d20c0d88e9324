from dataflows import Flow

from dataflows_factory import Factory

factory = Factory("cases", store="data")

@factory.flow(after=["loop"])
def loop():
    return Flow([{"x": 1}])
