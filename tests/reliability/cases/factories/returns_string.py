from dataflows_factory import Factory

factory = Factory("cases", store="data")

@factory.flow()
def data():
    return "in.csv"
