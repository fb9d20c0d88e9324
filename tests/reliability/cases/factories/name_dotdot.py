from dataflows import Flow

from dataflows_factory import Factory

factory = Factory("cases", store="data")

@factory.flow(name="../escape")
def data():
    return Flow([{"x": 1}])
