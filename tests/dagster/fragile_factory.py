"""A test factory whose flows fail on demand: bad input rows, or the first N attempts.

Copied next to a ``raw/numbers.csv`` in a temporary folder by the tests; ``fail_times.txt``
there says how many attempts of ``flaky`` fail, ``attempts.txt`` counts them.
"""

import os

from dataflows import Flow, load

from dataflows_factory import Factory

HERE = os.path.dirname(os.path.abspath(__file__))

factory = Factory("fragile", store="data")


def check_positive(row):
    if row["value"] < 0:
        raise ValueError(f"negative value {row['value']}")


def _number(name):
    path = os.path.join(HERE, name)
    if not os.path.exists(path):
        return 0
    with open(path) as handle:
        return int(handle.read())


def fail_first_attempts(rows):
    attempt = _number("attempts.txt") + 1
    with open(os.path.join(HERE, "attempts.txt"), "w") as handle:
        handle.write(str(attempt))
    if attempt <= _number("fail_times.txt"):
        raise RuntimeError(f"flaky failure on attempt {attempt}")
    yield from rows


@factory.flow()
def numbers():
    """Numbers that must all be positive."""
    return Flow(load("raw/numbers.csv", name="numbers"), check_positive)


@factory.flow(retries=2)
def flaky():
    """Fails its first attempts, as many as fail_times.txt says."""
    return Flow(load("raw/numbers.csv", name="flaky"), fail_first_attempts)


@factory.flow()
def doubled(numbers):
    """Each number twice (downstream of numbers)."""
    return Flow(numbers, lambda row: row.update(value=row["value"] * 2))
