"""The factory the orchestrator suites use to look for leaked credentials.

``leaky`` logs a URL whose password holds a raw ``@`` and fails on a scheme typo and a
``?password=`` URL; ``described`` publishes a descriptor and a schema that carry a password.
Every password holds ``core``: no output of any engine may contain it.
"""

from __future__ import annotations

from pathlib import Path

FACTORY = '''
import logging

from dataflows import Flow, load, set_type, update_package
from dataflows_factory import Factory

factory = Factory({name!r}, store="data")
TYPO = "postgresql+psycopg2//etl:{core}@db.example.com/shop"


def fail(rows):
    for row in rows:
        logging.getLogger({logger!r}).warning(
            "connecting to https://etl:p@{core}@files.example.com/x")
        raise ValueError("cannot connect to " + TYPO + " nor https://h.example/x?password={core}")
        yield row


@factory.flow()
def leaky():
    return Flow(load("people.csv"), fail)


@factory.flow()
def described():
    return Flow(load("people.csv", name="people"), update_package(source=TYPO),
                set_type("id", type="integer", description="copied with password={core}"))
'''


def write_leaky_factory(folder: Path, *, name: str, logger: str, core: str) -> Path:
    """Write the factory (named ``name``, logging to ``logger``) and its input into ``folder``."""
    (folder / "people.csv").write_text("id,name\n1,ada\n")
    path = folder / "factory.py"
    path.write_text(FACTORY.format(name=name, logger=logger, core=core))
    return path
