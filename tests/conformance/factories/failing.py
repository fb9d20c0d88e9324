"""A factory with a failing flow: ``checked`` rejects one row of its input.

``summary`` (data) and ``notify`` (order only) are downstream of it and must not run;
``stations`` is independent and must still succeed. No retries: the first failure is final.
"""

from dataflows import Flow, load

from dataflows_factory import Factory

factory = Factory("failing", store="data")


def reject_negative(row):
    if row["value"] < 0:
        raise ValueError(f"negative reading {row['value']} at station {row['station']}")


@factory.flow()
def stations():
    """The station list, independent of the failing flow."""
    return Flow(load("raw/stations.csv", name="stations"))


@factory.flow(retries=0)
def checked():
    """Readings that must all be positive; raw/readings.csv has one that is not."""
    return Flow(load("raw/readings.csv", name="readings"), reject_negative)


@factory.flow()
def summary(checked):
    """Downstream of the failing flow through its data."""
    return Flow(checked)


@factory.flow(after=["checked"])
def notify():
    """Downstream of the failing flow by order only."""
    return Flow(load("raw/stations.csv", name="notices"))
