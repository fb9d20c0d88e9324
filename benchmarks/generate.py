"""Deterministic benchmark data: cities (id, city, country, population, date, value) and countries."""

from __future__ import annotations

import csv
import os
import random
from datetime import date, timedelta

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), ".data")
COUNTRIES = [f"C{i:02d}" for i in range(50)]


def cities_path(rows: int) -> str:
    return os.path.join(DATA, f"cities_{rows}.csv")


def countries_path() -> str:
    return os.path.join(DATA, "countries.csv")


def generate(rows: int) -> str:
    """Write ``rows`` city rows (once; reused by later runs) and return the file's path."""
    os.makedirs(DATA, exist_ok=True)
    path = cities_path(rows)
    if not os.path.exists(countries_path()):
        with open(countries_path(), "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["code", "name", "population"])
            for i, code in enumerate(COUNTRIES):
                writer.writerow([code, f"Country {i}", 1_000_000 + i * 7919])
    if os.path.exists(path):
        return path
    rnd = random.Random(rows)
    start = date(2000, 1, 1)
    tmp = path + ".tmp"
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "city", "country", "population", "date", "value"])
        for i in range(1, rows + 1):
            writer.writerow([
                i,
                f"city-{rnd.randrange(rows)}",
                COUNTRIES[rnd.randrange(50)],
                rnd.randrange(0, 5_000_000),
                (start + timedelta(days=rnd.randrange(9000))).isoformat(),
                f"{rnd.uniform(-1000, 1000):.3f}",
            ])
    os.replace(tmp, path)
    return path


if __name__ == "__main__":
    for n in (100_000, 1_000_000):
        print(generate(n))
