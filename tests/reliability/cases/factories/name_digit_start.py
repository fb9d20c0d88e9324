from dataflows import Flow

from dataflows_factory import Factory

factory = Factory("cases", store="data")

@factory.flow(name="1abc")
def data():
    return Flow([{"x": 1}])
