"""Writing a project: never over an existing file without ``force``, nothing before all is read."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import FactoryError

if TYPE_CHECKING:
    from .guess import Blueprint

__all__ = ["ProjectExistsError", "check_free", "copy_sources", "init_guessed", "notes_file", "write_project"]

_GUESSED = "`dff init --from` guessed"  # in the notes' first lines (readme.py)


class ProjectExistsError(FactoryError, FileExistsError):
    """A file ``dff init`` would write exists already (``--force`` overwrites it)."""


def check_free(directory: Path, names: list[str], force: bool) -> None:
    """Raise :class:`ProjectExistsError` if any of ``names`` exists under ``directory`` (unless ``force``)."""
    existing = [name for name in names if (directory / name).exists()]
    if existing and not force:
        raise ProjectExistsError(f"{directory}: {', '.join(existing)} already exist(s); use --force to "
                                 "overwrite")


def notes_file(directory: Path) -> str:
    """Where a guessed blueprint's notes go: ``README.md``, unless the folder has a README of
    its own (not one ``dff init`` wrote), which stays as it is: then ``BLUEPRINT.md``."""
    existing = directory / "README.md"
    if existing.is_file() and _GUESSED not in existing.read_text(encoding="utf-8", errors="replace")[:500]:
        return "BLUEPRINT.md"
    return "README.md"


def write_project(directory: Path, files: dict[str, str]) -> None:
    """Write ``files`` (relative path -> text) under ``directory``."""
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def copy_sources(directory: Path, copies: dict[str, Path]) -> None:
    """Copy the source files of a guessed blueprint (``copy=True``) into the project."""
    for name, source in copies.items():
        destination = directory / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)


def init_guessed(directory: Path, sources: list[str], *, to: str | None = None, name: str | None = None,
                 copy: bool = False, force: bool = False) -> Blueprint:
    """``dff init DIR --from ...``: guess the blueprint, then write it (and the copies), or raise
    before writing anything."""
    from .guess import guess  # reads data with dataflows' load: imported when needed

    notes = notes_file(directory)
    check_free(directory, ["factory.py", notes], force)  # before any source is read
    guessed = guess(directory, sources, to=to, name=name, readme=notes, copy=copy)
    check_free(directory, list(guessed.copies), force)
    copy_sources(directory, guessed.copies)
    write_project(directory, guessed.files)
    if guessed.target is not None and guessed.target.kind == "sql":
        variable, url = guessed.target.env, guessed.target.url
        masked = " (with the password where *** is)" if "***" in url else ""
        guessed = replace(guessed, messages=(*guessed.messages, f"the sink reads the database URL from "
                                             f"${variable}: export {variable}='{url}'{masked}"))
    return guessed
