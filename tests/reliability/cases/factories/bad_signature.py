from dataflows import Flow

from dataflows_factory import Factory

factory = Factory("cases", store="data")

def double(value):
    return value * 2

@factory.flow()
def data():
    return Flow([{"x": 1}], double)
