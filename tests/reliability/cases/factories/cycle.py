from dataflows import Flow

from dataflows_factory import Factory

factory = Factory("cases", store="data")

@factory.flow()
def a(b):
    return Flow(b)

@factory.flow()
def b(a):
    return Flow(a)
