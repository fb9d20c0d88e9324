"""``dff init DIR --from SOURCE ... [--to TARGET]``: a blueprint guessed from the user's files.

Lists the sources, samples every table (:mod:`.infer`), groups same-shaped files of one
source into partitioned flows (:mod:`.shapes`) and renders ``factory.py`` and ``README.md``
(:mod:`.codegen`, :mod:`.readme`). Everything is read and rendered before anything is
written: a source that cannot be read fails the command with nothing written.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, replace
from pathlib import Path

from ..flow import check_name
from .codegen import render_factory
from .infer import Column, Table, infer_table
from .readme import render_readme
from .shapes import FlowSpec, flow_name, group_tables, unique_names
from .sources import Source, SourceError, expand
from .targets import Target, parse_target

__all__ = ["Blueprint", "guess"]


@dataclass(frozen=True)
class Blueprint:
    """The guessed flows, the lines the command prints, and the files to write.

    ``copies`` maps a path under the project to the source file copied there (``copy=True``);
    :attr:`files` renders ``factory.py`` and the notes, once the copies are in place (a glob
    for the partitions is checked against the files on disk).
    """

    name: str
    root: Path
    readme: str
    flows: tuple[FlowSpec, ...]
    target: Target | None
    messages: tuple[str, ...]
    copies: dict[str, Path]

    @property
    def files(self) -> dict[str, str]:
        """Relative path -> text of ``factory.py`` and the notes."""
        flows, split = list(self.flows), [m for m in self.messages if "a flow of its own" in m]
        return {"factory.py": render_factory(self.name, flows, self.target, self.root, self.readme),
                self.readme: render_readme(self.name, flows, self.target, self.root, split)}


def guess(directory: Path, sources: list[str], *, to: str | None = None, name: str | None = None,
          cwd: Path | None = None, readme: str = "README.md", copy: bool = False) -> Blueprint:
    """Read ``sources`` and return the blueprint for ``directory``; writes nothing. The notes on
    the guesses go to ``readme`` (a project may have a README of its own); with ``copy``, local
    files outside ``directory`` are to be copied into its ``raw/`` folder and read from there.

    >>> blueprint = guess(Path("demo"), ["raw/"], to="postgresql://etl@db/shop")  # doctest: +SKIP
    >>> sorted(blueprint.files)                                                  # doctest: +SKIP
    ['README.md', 'factory.py']
    """
    cwd = cwd or Path.cwd()
    root = directory if directory.is_absolute() else cwd / directory
    target = parse_target(to, cwd, root) if to else None
    factory_name = check_name(name or flow_name(root.resolve().name or "factory"), "factory")
    messages: list[str] = []
    groups: list[tuple[str, tuple[Table, ...], tuple[Column, ...]]] = []
    copies: dict[str, Path] = {}
    seen: set[str] = set()
    for given in sources:
        listed, skipped = expand(given, cwd)
        messages += skipped
        fresh = [s for s in listed if s.location not in seen]
        seen.update(s.location for s in fresh)
        tables = [infer_table(source) for source in fresh]
        if copy:
            tables = [replace(t, source=_copied(t.source, cwd, root, copies)) for t in tables]
        if not tables:
            continue
        found, split = group_tables(tables)
        groups += found
        messages += split
    if not groups:
        raise SourceError(f"{', '.join(sources)}: no table to read")
    names = unique_names([g[0] for g in groups])
    flows = [FlowSpec(n, tables, columns) for n, (_, tables, columns) in zip(names, groups, strict=True)]
    for flow in flows:
        uncertain = [c.name for c in flow.columns if c.why]
        what = f"{len(flow.tables)} files, partitioned" if flow.partitioned else flow.tables[0].source.label
        note = f"; type set explicitly for {', '.join(uncertain)} (see {readme})" if uncertain else ""
        messages.append(f"flow {flow.name}: {what}, {len(flow.columns)} column(s){note}")
    if copies:
        messages.append(f"{len(copies)} file(s) copied into {root / 'raw'}")
    return Blueprint(factory_name, root, readme, tuple(flows), target, tuple(messages), copies)


def _copied(source: Source, cwd: Path, root: Path, copies: dict[str, Path]) -> Source:
    """Where ``source`` goes under ``root/raw`` (a folder's or a glob's files keep their place
    below it), or ``source`` itself when it is a URL or already inside the project."""
    if source.path is None or source.path.resolve().is_relative_to(root.resolve()):
        return source
    given = Path(os.path.abspath(cwd / os.path.expanduser(source.given)))
    magic = [i for i, part in enumerate(given.parts) if glob.has_magic(part)]
    base = Path(*given.parts[:magic[0]]) if magic else given if given.is_dir() else given.parent
    relative = ("raw" / source.path.relative_to(base)).as_posix()
    if relative in copies and copies[relative] != source.path:
        raise SourceError(f"{source.path} and {copies[relative]} would both be copied to {relative}")
    copies[relative] = source.path
    return replace(source, location=str(root / relative), path=root / relative)
