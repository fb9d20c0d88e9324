"""Write the guessed blueprint as ordinary Python: one flow per source, types shown or set.

The output is what an engineer would write by hand: ``load`` calls with the file's path,
``partitions=files(...)`` for same-shaped files, the guessed types as a comment and, for
each uncertain column, an explicit type in load's ``override_fields`` with the reason on
the line above. (``override_fields`` rather than a later ``set_type``: a factory's load
casts every row with its schema, so a wrong guess would fail the load before a later step
could fix it.)
"""

from __future__ import annotations

import glob
import json
import os
import textwrap
from pathlib import Path

from .shapes import FlowSpec
from .sources import Source
from .targets import Target

__all__ = ["SINK", "code_path", "partitions_code", "render_factory"]

SINK = "to_database"
_WIDTH = 110  # the project's ruff line length
_COMMENT_WIDTH = 100  # comments wrap earlier: easier to read


def lit(value: str) -> str:
    """A double-quoted Python string literal (the house style)."""
    return json.dumps(value, ensure_ascii=False)


def code_path(source: Source, root: Path) -> str:
    """How the factory names a source: relative to its folder when inside it, else absolute."""
    if source.path is None:
        return source.location
    try:
        return source.path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return source.path.resolve().as_posix()


def partitions_code(paths: list[str], root: Path) -> str:
    """``files("glob")`` that matches exactly ``paths`` (relative to ``root`` or absolute), else
    the list itself (new files then need adding by hand)."""
    wanted = {os.path.normpath(root / p) for p in paths}
    names = [Path(p).name for p in paths]
    folder = os.path.commonpath([os.path.dirname(p) or "." for p in paths])
    folder = "" if folder == "." else folder + "/"
    suffixes = {"." + n.split(".", 1)[1] if "." in n else "" for n in names}
    prefix = _common_start(names)
    suffix = _common_start([n[len(prefix):][::-1] for n in names])[::-1]
    candidates = [f"{folder}*{s}" for s in suffixes if len(suffixes) == 1]
    candidates += [f"{folder}**/*{s}" for s in suffixes if len(suffixes) == 1]
    # The shortest start of the names that ends at a separator first: orders_*.csv before
    # orders_2026-0*.csv (which would miss orders_2026-10.csv).
    starts = [prefix[:i + 1] for i, ch in enumerate(prefix) if not ch.isalnum()] + [prefix]
    candidates += [f"{folder}{glob.escape(start)}*{glob.escape(suffix)}" for start in starts]
    for pattern in candidates:
        found = {os.path.normpath(m) for m in glob.glob(str(root / pattern), recursive=True)
                 if os.path.isfile(m)}
        if found == wanted:
            return f"files({lit(pattern)})"
    return "[" + ", ".join(lit(p) for p in paths) + "]"


def _common_start(texts: list[str]) -> str:
    """The characters every text starts with (file names, compared character by character)."""
    start = texts[0]
    for text in texts[1:]:
        while not text.startswith(start):
            start = start[:-1]
    return start


def _comment(text: str, indent: str, atoms: list[str] | None = None) -> list[str]:
    """``text`` as ``#`` lines; each of ``atoms`` (``zip string``) stays on one line."""
    glue = "\x00"
    if atoms:
        text += ", ".join(atom.replace(" ", glue) for atom in atoms)
    lines = textwrap.wrap(" ".join(text.split()), width=_COMMENT_WIDTH, initial_indent=f"{indent}# ",
                          subsequent_indent=f"{indent}#   ", break_on_hyphens=False, break_long_words=False)
    return [line.replace(glue, " ") for line in lines]


def _docstring(text: str, indent: str = "    ") -> str:
    safe = text.replace("\\", "/").replace('"""', "'''")
    return f'{indent}"""{safe}"""'


def _load(flow: FlowSpec, where: str) -> list[str]:
    """``return Flow(load(...))``, on one line when it fits."""
    options = {name: why for t in flow.tables for name, why in t.options.items()}
    uncertain = [c for c in flow.columns if c.why]
    short = f"    return Flow(load({where}, name={lit(flow.name)}))"
    if not options and not uncertain and len(short) <= _WIDTH:
        return [short]
    lines = ["    return Flow(", "        load(", f"            {where},",
             f"            name={lit(flow.name)},"]
    for name, why in options.items():
        value = lit("drop") if name == "extra_cells" else "True"
        lines += [*_comment(why, " " * 12), f"            {name}={value},"]
    if uncertain:
        lines.append("            override_fields={")
        for column in uncertain:
            spec = ", ".join(f"{lit(k)}: {lit(v)}" for k, v in column.override().items())
            lines += [*_comment(column.why, " " * 16), f"                {lit(column.name)}: {{{spec}}},"]
        lines.append("            },")
    return [*lines, "        ),", "    )"]


def _source_flow(flow: FlowSpec, root: Path) -> list[str]:
    paths = [code_path(t.source, root) for t in flow.tables]
    if flow.partitioned:
        partitions = partitions_code(paths, root)
        head = [f"@factory.flow(partitions={partitions})", f"def {flow.name}(partition):"]
        if len(head[0]) > _WIDTH and partitions.startswith("files("):  # a long pattern
            head[:1] = ["@factory.flow(", f"    partitions={partitions},", ")"]
        elif len(head[0]) > _WIDTH:  # a long list: one file a line
            head[:1] = ["@factory.flow(partitions=[", *[f"    {lit(p)}," for p in paths], "])"]
        if not partitions.startswith("files("):
            head[:0] = _comment("No glob matches just these files: add new ones to the list.", "")
        doc = f"{len(paths)} files of one shape, one partition each."
        where = "partition"
    else:
        head = ["@factory.flow()", f"def {flow.name}():"]
        doc = f"The rows of {paths[0]}."
        where = lit(paths[0])
    sampled = sum(t.rows for t in flow.tables)
    whole = all(t.complete for t in flow.tables)
    lines = [*head, _docstring(doc)]
    rows = f"{'all ' if whole else 'a sample of '}{sampled:,} row(s)"
    lines += _comment(f"Columns, guessed from {rows}: ", "    ", [f"{c.name} {c.kind}" for c in flow.columns])
    return [*lines, *_load(flow, where)]


def _sink(flows: list[FlowSpec], target: Target) -> list[str]:
    names = [f.name for f in flows]
    upstream = ", ".join(names)
    header = f"def {SINK}({upstream}):"
    if len(header) > _WIDTH:
        header = f"def {SINK}(\n" + "".join(f"    {n},\n" for n in names) + "):"
    tables = "".join(f"                {lit(n)}: {lit(n)},\n" for n in names)
    return [
        "@factory.flow()", header,
        _docstring("Each source's dataset as a table of the SQL database, rewritten on every run."),
        "    return Flow(", *[f"        {n}," for n in names],
        "        to_sql(", "            {", tables.rstrip("\n"), "            },",
        "            engine=SQL_URL,", "        ),", "    )",
    ]


def render_factory(name: str, flows: list[FlowSpec], target: Target | None, root: Path,
                   readme: str = "README.md") -> str:
    """The text of ``factory.py`` for the source ``flows`` and an optional ``target``."""
    sql = target is not None and target.kind == "sql"
    lines = ['"""Source flows guessed by `dff init` from your files: one flow per table shape.', "",
             f"Run it with ``dff run``. {readme} says what was guessed and how to change it: a column",
             "whose guess was uncertain has its type set in ``override_fields``, with the reason beside it.",
             '"""', "", "from dataflows import Flow, load",  # one block: both are third-party here
             "from dataflows_factory import Factory"]
    # The flows first: whether one uses files() is what they say (its glob looked up once).
    bodies = [_source_flow(flow, root) for flow in flows]
    if any(line.startswith(("@factory.flow(partitions=files(", "    partitions=files("))
           for body in bodies for line in body):
        lines.append("from dataflows_factory.partitions import files")
    if sql:
        lines.append("from dataflows_factory.processors.sql import to_sql")
    if target is not None and target.kind == "store":
        lines += ["", f"factory = Factory({lit(name)}, store={lit(target.store)})"]
    else:
        store = "# datasets go to ./data (or $DFF_STORE, or --store URL)"
        lines += ["", f"factory = Factory({lit(name)})  {store}"]
    if sql and target is not None:
        lines += ["", *_comment(f"The database the `{SINK}` flow writes to: a SQLAlchemy URL read from "
                                f"${target.env} when the flow runs, so no password is written in this "
                                "file.", ""),
                  f"SQL_URL = {lit('env://' + target.env)}"]
    for body in bodies:
        lines += ["", "", *body]
    if sql and target is not None:
        lines += ["", "", *_sink(flows, target)]
    return "\n".join(lines) + "\n"

