"""The README written next to a guessed ``factory.py``: what was guessed, and how to change it."""

from __future__ import annotations

from pathlib import Path

from .codegen import SINK, code_path
from .shapes import FlowSpec
from .targets import Target

__all__ = ["render_readme"]


def render_readme(name: str, flows: list[FlowSpec], target: Target | None, root: Path,
                  split: list[str]) -> str:
    """Markdown: one section per flow (sources, columns, uncertain guesses), then the next steps."""
    out = [f"# {name}", "", "A dataflows-factory project that `dff init --from` guessed from your files.", "",
           "```bash"]
    if target is not None and target.kind == "sql":
        masked = " (put the password where *** is)" if "***" in target.url else ""
        out.append(f"export {target.env}='{target.url}'   # the database `{SINK}` writes to{masked}")
    out += ["dff run                          # run every flow; again: unchanged flows are skipped",
            "dff list                         # the flows and the state of their datasets",
            f"dff inspect factory.py {flows[0].name}   # schema and first rows of a dataset",
            "```", "", "## What was guessed", ""]
    for flow in flows:
        paths = [code_path(t.source, root) for t in flow.tables]
        shown = ", ".join(f"`{p}`" for p in paths[:5])
        shown += f" and {len(paths) - 5} more" if len(paths) > 5 else ""
        kind = f"partitioned flow, one partition per file: {shown}" if flow.partitioned else \
            f"flow reading {shown}"
        out += [f"### `{flow.name}`", "", f"A {kind}.", ""]
        for table in flow.tables:
            path = code_path(table.source, root)
            out += [f"- `{path}`: {note}" for note in table.notes]
            out += [f"- `{path}`: `{option}`: {why}" for option, why in table.options.items()]
        out += ["| column | type | guess |", "|---|---|---|"]
        for column in flow.columns:
            guess = f"**set explicitly**: {column.why}" if column.why else "as `load` infers it"
            out.append(f"| {column.name} | {column.kind} | {guess} |")
        out.append("")
    if split:
        out += ["Files of one source that became separate flows:", "", *[f"- {line}" for line in split], ""]
    out += [
        "## Changing the guesses", "",
        "- A column's type: edit (or add) its entry in the flow's `load(..., override_fields={...})`, e.g.",
        '  `"zip": {"type": "string"}` or `"day": {"type": "date", "format": "%d/%m/%Y"}`. `load` casts',
        "  every row with the schema, so a type the data does not fit fails the flow at that row, naming it.",
        "- Keep every value as text: `load(..., cast_strategy=load.CAST_TO_STRINGS)`.",
        "- Add steps after the `load` (`filter_rows`, `set_type`, `join`, ...; `dff processors` lists",
        "  them), or a flow that takes a source flow's name as a parameter to read its dataset.",
        "- Guess again from new files: `dff init . --from ... --force` (these notes and `factory.py`",
        "  are rewritten).",
    ]
    if target is not None and target.kind == "sql":
        out += [f"- The database: `{SINK}` writes each source to a table of the same name (mode",
                f"  `rewrite`) in the database whose SQLAlchemy URL is in `${target.env}`",
                f"  (`{target.url}` was given to `dff init`); the password is never written into",
                "  `factory.py`."]
    if target is not None and target.kind == "store":
        out += [f"- The store: datasets are published under `{target.store}` (`Factory(store=...)`;",
                "  `dff run --store URL` or `$DFF_STORE` override it)."]
    return "\n".join(out) + "\n"
