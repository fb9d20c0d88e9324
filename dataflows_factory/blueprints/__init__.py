"""Blueprints: the projects ``dff init`` writes.

Two kinds. *Named* blueprints are runnable example projects (``hello``, ``files-to-sql``,
``partitioned-daily``) kept as folders under ``templates/``. A *guessed* blueprint is written
from the user's own files (``dff init DIR --from SOURCE``): one source flow per table shape,
types as ``load`` infers them, explicit where the guess is uncertain, and an optional sink
(``--to``). Both are written only when no file would be overwritten (unless ``force``).

>>> from pathlib import Path
>>> init_guessed(Path("demo"), ["exports/"], to="postgresql://etl@db/shop")  # doctest: +SKIP
>>> guess(Path("demo"), ["exports/"]).files["factory.py"]                  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports
from .named import blueprint_files, copy_blueprint, named_blueprints
from .sources import SourceError
from .writing import ProjectExistsError, check_free, copy_sources, init_guessed, notes_file, write_project

if TYPE_CHECKING:
    from .guess import Blueprint, guess

__all__ = ["Blueprint", "ProjectExistsError", "SourceError", "blueprint_files", "check_free",
           "copy_blueprint", "copy_sources", "guess", "init_guessed", "named_blueprints", "notes_file",
           "write_project"]


# guess() reads data with dataflows' load: imported on first use, so `dff init --list` and the
# named blueprints stay quick.
__getattr__, __dir__ = lazy_exports(__name__, {"Blueprint": ".guess", "guess": ".guess"}, globals())
