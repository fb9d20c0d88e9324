"""``dff init``: a new project from a named blueprint or guessed from the user's files."""

from __future__ import annotations

from pathlib import Path

import click
from rich.text import Text

from ._common import console, handle_errors

__all__ = ["init"]


@click.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@click.option("--from", "sources", multiple=True, metavar="SOURCE",
              help="Guess the flows from your data: a file (CSV, TSV, JSON, Excel), a glob, a folder "
                   "or an http(s)/s3 URL; repeat for more.")
@click.option("--to", "target", metavar="TARGET", default=None,
              help="With --from: a SQL database URL or env://VAR (a sink flow; the URL is read from "
                   "$DFF_SQL_URL or VAR at run time) or a folder/URL (the factory's store).")
@click.option("--blueprint", "-b", default=None, metavar="NAME",
              help="A named blueprint (see --list); default: hello, or the guessed one with --from.")
@click.option("--name", default=None, help="With --from: the factory's name (default: from DIRECTORY).")
@click.option("--copy", "copy_files", is_flag=True,
              help="With --from: copy local files from outside DIRECTORY into DIRECTORY/raw/ and read "
                   "them there (a self-contained project).")
@click.option("--list", "show_list", is_flag=True, help="List the named blueprints and exit.")
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
@handle_errors
def init(directory: str, sources: tuple[str, ...], target: str | None, blueprint: str | None,
         name: str | None, copy_files: bool, show_list: bool, force: bool) -> None:
    """Create a runnable project in DIRECTORY (default: here): a named blueprint, or flows guessed
    from your files with --from."""
    from .. import blueprints

    if show_list:
        for known, description in blueprints.named_blueprints().items():
            console.print(Text.assemble((f"{known:<20}", "bold"), description), highlight=False,
                          soft_wrap=True)
        return
    if sources and blueprint:
        raise click.UsageError("--blueprint and --from do not combine: --from guesses the blueprint from "
                               "your files (add --to URL for a SQL sink, as files-to-sql shows)")
    if (target or name or copy_files) and not sources:
        raise click.UsageError("--to, --name and --copy go with --from")
    folder = Path(directory)
    if not sources:
        blueprints.copy_blueprint(blueprint or "hello", folder, force=force)
    else:
        guessed = blueprints.init_guessed(folder, list(sources), to=target, name=name, copy=copy_files,
                                          force=force)
        for line in guessed.messages:
            console.print(line, highlight=False, soft_wrap=True)
    where = "" if directory == "." else f"cd {directory} && "
    console.print(Text.assemble("Created a dataflows-factory project in ", (str(folder), "bold"),
                                ". Next: ", (f"{where}dff run", "bold")))
