from dataflows import Flow

from dataflows_factory import Factory

factory = Factory("cases", store="data")

@factory.flow(after=["ghost"])
def report():
    return Flow([{"x": 1}])
