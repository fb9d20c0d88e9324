"""``dff docs build`` and ``dff docs serve``: the factory's static docs site."""

from __future__ import annotations

import functools
import tempfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import click

from ..factory import load_factory
from ._common import console, handle_errors, select_option, store_option, target_argument

__all__ = ["docs"]


@click.group()
def docs() -> None:
    """Build or serve a static site of the factory: graph, flows, schemas, previews, runs."""


def _build(target: str, out: str, store: str | None, select: tuple[str, ...], validate: bool) -> Path:
    from ..docs import build_site

    factory = load_factory(target)
    folder = build_site(factory, out, store=factory.store(store), select=list(select) or None,
                        validate=validate)
    pages = len(list((folder / "flows").glob("*.html")))
    console.print(f"docs site of factory {factory.name}: {pages} flow pages in {folder}; "
                  f"open {(folder / 'index.html').absolute().as_uri()}", highlight=False, soft_wrap=True)
    return folder


# Validation reads every row of every dataset: on a large store, the slow part of a build.
validate_option = click.option(
    "--validate/--no-validate", default=True, show_default=True,
    help="Check every row of each dataset against its schema (reads all rows); without it, "
         "a flow page says 'not checked'.")


@docs.command()
@target_argument
@click.option("--out", "-o", metavar="DIR", default="site", show_default=True,
              help="Folder to write the site into (replaced if it holds a site built before).")
@store_option
@select_option
@validate_option
@handle_errors
def build(target: str, out: str, store: str | None, select: tuple[str, ...], validate: bool) -> None:
    """Write the docs site of FILE's factory into DIR (works offline from file://)."""
    _build(target, out, store, select, validate)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        # A line per request is noise for a site of a few pages; failed requests still print.
        if str(getattr(code, "value", code)).startswith(("4", "5")):
            super().log_request(code, size)


@docs.command()
@target_argument
@click.option("--port", "-p", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="Port on 127.0.0.1 (0: any free port).")
@click.option("--out", "-o", metavar="DIR", default=None,
              help="Folder to build the site into (default: a temporary folder, removed after).")
@store_option
@select_option
@validate_option
@handle_errors
def serve(target: str, port: int, out: str | None, store: str | None, select: tuple[str, ...],
          validate: bool) -> None:
    """Build the docs site, then serve it on http://127.0.0.1:PORT until Ctrl-C."""
    with tempfile.TemporaryDirectory(prefix="dff-docs-") as scratch:
        folder = _build(target, out or scratch, store, select, validate)
        handler = functools.partial(_QuietHandler, directory=str(folder))
        # Loopback only: the site shows data previews and must not be reachable by others.
        with ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
            console.print(f"serving on http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C stops)",
                          highlight=False)
            try:
                server.serve_forever()
            except KeyboardInterrupt:
                console.print("stopped", highlight=False)
