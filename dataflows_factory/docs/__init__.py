"""``dff docs``: a static site of a factory, browsable offline (``file://``) or published as is.

>>> from dataflows_factory.docs import build_site
>>> build_site(load_factory("factory.py"), "site")       # doctest: +SKIP
PosixPath('site')

The site is ``index.html`` (the factory, its graph, its flows, a search box), one page per
flow under ``flows/`` and ``assets/``. Data for the pages' scripts is embedded in them:
browsers refuse ``fetch()`` on ``file://``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from importlib.resources import files
from pathlib import Path

from ..errors import DocsSiteError
from ..factory import Factory, load_factory
from ..store import Store
from .model import PREVIEW_ROWS, collect
from .render import flow_page, index_page

__all__ = ["build_site"]

MARKER = ".dff-docs"
_ASSETS = ("site.css", "site.js")


def build_site(factory: Factory | str, out: str | os.PathLike[str], *,
               store: str | os.PathLike[str] | Store | None = None,
               select: Iterable[str] | None = None, preview_rows: int = PREVIEW_ROWS,
               validate: bool = True) -> Path:
    """Write the docs site of ``factory`` (its ``select``-ed flows) into the folder ``out``.

    ``out`` must be missing, empty, or a docs site built before (it is replaced whole, so a
    removed flow leaves no stale page). Returns the folder; open ``index.html`` in it.
    """
    factory = load_factory(factory)
    target = Path(out)
    model = collect(factory, factory.store(store), select=select, preview_rows=preview_rows,
                    validate=validate)
    _clear(target)
    (target / "flows").mkdir(parents=True)
    (target / "assets").mkdir()
    for name in _ASSETS:
        (target / "assets" / name).write_bytes(files(__package__).joinpath("static", name).read_bytes())
    (target / "index.html").write_text(index_page(model), encoding="utf-8")
    for flow in model["flows"]:
        (target / "flows" / f"{flow['name']}.html").write_text(flow_page(model, flow), encoding="utf-8")
    (target / MARKER).write_text("a dataflows-factory docs site; `dff docs build` replaces this folder\n",
                                 encoding="utf-8")
    return target


def _clear(target: Path) -> None:
    """Empty ``target`` if it is a docs site built before; refuse any other folder's contents."""
    if not target.exists():
        return
    if not target.is_dir():
        raise DocsSiteError(f"docs site folder {str(target)!r} is a file; name a folder with --out")
    if any(target.iterdir()) and not (target / MARKER).is_file():
        raise DocsSiteError(
            f"docs site folder {str(target)!r} is not empty and holds no docs site built before "
            f"(no {MARKER} file); choose an empty or new folder with --out")
    for entry in target.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
