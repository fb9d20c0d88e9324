from dataflows import Flow

from dataflows_factory import Factory
from dataflows_factory.processors.sql import to_sql

factory = Factory("cases", store="data")

@factory.flow()
def data():
    return Flow([{"x": 1}], to_sql({"t": "res_1"}, engine="sqlite://", db_schema="public; DROP"))
