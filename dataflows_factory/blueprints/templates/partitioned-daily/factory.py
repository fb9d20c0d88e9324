"""Partitioned daily: one partition per day of events, and a rollup over every day.

Each day reads its own file, raw/events/<day>.csv: a new day runs only that day's partition,
and a day whose file did not change is skipped. ``daily_totals`` sees all the days as one
dataset.
"""

from datetime import date

from dataflows import Flow, add_field, join_with_self, load, sort_rows, update_resource

from dataflows_factory import Factory
from dataflows_factory.partitions import dates

factory = Factory("daily")  # datasets go to ./data (or $DFF_STORE, or --store URL)


@factory.flow(partitions=dates("2026-01-01", "2026-01-03"))  # widen the range as days arrive
def events(partition):
    """One day of events, with the day as a column."""
    return Flow(
        load(f"raw/events/{partition}.csv", name="events"),
        add_field("day", "date", default=date.fromisoformat(partition)),
    )


@factory.flow()
def daily_totals(events):
    """Per day: how many events, and the amount they add up to."""
    return Flow(
        events,
        join_with_self("events", ["day"], fields={
            "day": None,
            "events": {"name": "user", "aggregate": "count"},
            "amount": {"name": "amount", "aggregate": "sum"},
        }),
        sort_rows("{day}"),
        update_resource("events", name="daily_totals", path="daily_totals.csv"),
    )
