from dataflows import Flow

from dataflows_factory import Factory

factory = Factory("cases", store="data")

@factory.flow()
def data():
    Flow([{"x": 1}])
