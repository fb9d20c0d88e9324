"""Checks on the environment that dataflows itself does not make."""

from __future__ import annotations

import functools

from .errors import FactoryError

__all__ = ["check_tabulator"]


@functools.cache
def check_tabulator() -> None:
    """Fail clearly when ``tabulator`` shadows ``dataflows-tabulator``.

    Both distributions install the ``tabulator`` module (``tableschema-sql`` still requires
    the old one); installers that unpack in parallel (uv) can leave the old copy on top,
    and every CSV ``load()`` then dies with "Not supported skip rows". Checked once per process.
    """
    from tabulator import Stream

    try:
        Stream("check.csv", skip_rows=[{"type": "preset", "value": "auto"}])
    except ValueError as cause:
        raise FactoryError(
            "the installed 'tabulator' module is the old 'tabulator' package, not "
            "'dataflows-tabulator' that dataflows needs; repair it with: "
            "pip install --force-reinstall --no-deps dataflows-tabulator"
        ) from cause
