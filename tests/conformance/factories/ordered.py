"""A factory whose order-only dependency is observable in the data.

``extract`` leaves a marker file next to the factory once it has streamed its rows;
``audit`` (``after=["extract"]``, no data passed) reads the marker while it streams, so an
engine that started it too early fails it, and a different marker changes its content hash.
``catalog`` is independent of both.
"""

import os

from dataflows import Flow, add_computed_field, load

from dataflows_factory import Factory

HERE = os.path.dirname(os.path.abspath(__file__))
MARKER = os.path.join(HERE, "extracted.txt")

factory = Factory("ordered", store="data")


def leave_marker(rows):
    count = 0
    for row in rows:
        count += 1
        yield row
    with open(MARKER, "w") as handle:
        handle.write(str(count))


def marker():
    with open(MARKER) as handle:
        return int(handle.read())


@factory.flow()
def extract():
    """Readings; the marker file records how many were streamed."""
    return Flow(load("raw/readings.csv", name="readings"), leave_marker)


@factory.flow(after=["extract"])
def audit():
    """The station list stamped with the row count extract left behind (order only)."""
    return Flow(
        load("raw/stations.csv", name="audit"),
        add_computed_field(target={"name": "extracted", "type": "integer"},
                           operation=lambda row: marker()),
    )


@factory.flow()
def catalog():
    """Independent of the other two."""
    return Flow(load("raw/stations.csv", name="catalog"))
