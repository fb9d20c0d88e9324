from dataflows import Flow, add_computed_field, load

from dataflows_factory import Factory

factory = Factory("cases", store="data")

@factory.flow()
def data():
    return Flow(load("in.csv", name="nums"),
                add_computed_field(target="ratio", operation=lambda row: 1 / (row["a"] - 1)))
