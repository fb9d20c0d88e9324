"""The named blueprints: runnable example projects kept as folders under ``templates/``.

Each folder is a project as ``dff init --blueprint NAME`` writes it; the first line of its
``factory.py`` docstring is the description ``dff init --list`` shows.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

from .sources import SourceError
from .writing import check_free

__all__ = ["TEMPLATES", "blueprint_files", "copy_blueprint", "named_blueprints"]

TEMPLATES = Path(__file__).parent / "templates"


def named_blueprints() -> dict[str, str]:
    """``{name: one-line description}`` of every named blueprint, sorted by name."""
    found = {}
    for folder in sorted(TEMPLATES.iterdir()):
        factory = folder / "factory.py"
        if factory.is_file():
            doc = ast.get_docstring(ast.parse(factory.read_text(encoding="utf-8"))) or ""
            found[folder.name] = doc.splitlines()[0] if doc else ""
    return found


def blueprint_files(name: str) -> dict[str, Path]:
    """The files of blueprint ``name`` by path relative to the project (no caches)."""
    folder = TEMPLATES / name
    if name not in named_blueprints():
        raise SourceError(f"no blueprint named {name!r}; the blueprints are {sorted(named_blueprints())}")
    return {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}


def copy_blueprint(name: str, target: Path, *, force: bool = False) -> list[str]:
    """Copy blueprint ``name`` into ``target``; returns the files written. Raises
    :class:`ProjectExistsError` when one exists already (unless ``force``)."""
    files = blueprint_files(name)
    check_free(target, list(files), force)
    for relative, path in files.items():
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, destination)
    return sorted(files)
