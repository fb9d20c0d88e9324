"""The world factory: two independent sources, a join, and an order-only publish step.

Run it with ``dff run examples/world/factory.py``; datasets land in ``examples/world/data``.
"""

from dataflows import Flow, add_computed_field, filter_rows, join, load, sort_rows, update_resource

from dataflows_factory import Factory

factory = Factory("world", store="data")


@factory.flow(tags=["source"])
def countries():
    """Countries with their population and area."""
    return Flow(load("raw/countries.csv", name="countries"))


@factory.flow(retries=2, tags=["source"])
def cities():
    """Cities with a known population (placeholder rows dropped)."""
    return Flow(
        load("raw/cities.csv", name="cities"),
        filter_rows(lambda row: row["population"] > 0),
    )


@factory.flow(tags=["metrics"])
def key_metrics(countries, cities):
    """Per country: number of large cities, their population and the urban share."""
    return Flow(
        cities,
        countries,
        join(
            "cities", ["country"], "countries", ["code"],
            fields={
                "cities": {"name": "name", "aggregate": "count"},
                "city_population": {"name": "population", "aggregate": "sum"},
            },
            mode="half-outer",
        ),
        add_computed_field(
            target={"name": "urban_share", "type": "number"},
            operation=lambda row: round((row["city_population"] or 0) / row["population"], 4),
        ),
        sort_rows("{code}", resources="countries"),
        update_resource("countries", name="key_metrics", path="key_metrics.csv"),
    )


@factory.flow(after=["key_metrics"], tags=["metrics"])
def publish():
    """The attribution sheet, published once the metrics are in (order only, no data)."""
    return Flow(load("raw/sources.csv", name="sources"))

