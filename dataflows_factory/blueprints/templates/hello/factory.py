"""A first factory: two independent sources and a flow that joins them.

Run it with ``dff run``; look at the result with ``dff inspect factory.py revenue``.
"""

from dataflows import Flow, add_computed_field, join, load, sort_rows

from dataflows_factory import Factory

factory = Factory("demo")  # datasets go to ./data (or $DFF_STORE, or dff run --store URL)


@factory.flow()
def products():
    """The product catalogue."""
    return Flow(load("raw/products.csv", name="products"))


@factory.flow(retries=1)
def orders():
    """Orders, one row per order line."""
    return Flow(load("raw/orders.csv", name="orders"))


@factory.flow()
def revenue(products, orders):
    """Revenue per product: units sold times unit price."""
    return Flow(
        orders,
        products,
        join("orders", ["product"], "products", ["sku"],
             fields={"units": {"name": "quantity", "aggregate": "sum"}}),
        add_computed_field(
            target={"name": "revenue", "type": "number"},
            operation=lambda row: (row["units"] or 0) * row["price"],
        ),
        sort_rows("{sku}"),
    )
