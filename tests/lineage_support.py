"""What every lineage test needs: an OpenLineage receiver on loopback, the events of the
file transport, and a validator that checks each event and each facet against the
OpenLineage JSON schemas, as the client ships them (its generated model, turned back into
schemas by ``tests/openlineage_model.py``; no network), and ours against our own.

>>> with Receiver() as receiver:                       # OPENLINEAGE_URL=receiver.url
...     run(factory)
>>> for event in receiver.events:
...     validate_event(event)
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from openlineage_model import model_documents
from referencing import Registry, Resource

import dataflows_factory.lineage

OUR_FACETS = Path(dataflows_factory.lineage.__file__).resolve().parent / "facets"

# The formats the spec uses: without the packages that check them, jsonschema ignores a
# format silently, and "valid" would mean less than it says.
_FORMATS = FormatChecker()
_MISSING = {"uri", "date-time", "uuid"} - set(_FORMATS.checkers)
if _MISSING:
    raise AssertionError(f"jsonschema cannot check the formats {sorted(_MISSING)}: install the dev "
                         "extra (rfc3986-validator, rfc3339-validator)")


def registry(*extra_dirs: Path) -> Registry:
    """Every schema of the spec, ours, and those in ``extra_dirs`` (an engine's facets),
    by their ``$id``."""
    found: Registry = Registry()
    for document in model_documents():
        found = found.with_resource(document["$id"], Resource.from_contents(document))
    for folder in (OUR_FACETS, *extra_dirs):
        for path in sorted(folder.rglob("*.json")):
            contents = json.loads(path.read_text())
            if "$id" in contents:
                found = found.with_resource(contents["$id"], Resource.from_contents(contents))
    return found


_REGISTRY = registry()


def validate_event(event: dict[str, Any], *extra_dirs: Path) -> None:
    """Raise AssertionError listing every way ``event`` or one of its facets breaks its
    schema; a facet whose ``_schemaURL`` has no schema here is an error too."""
    known = registry(*extra_dirs) if extra_dirs else _REGISTRY
    problems = _errors(event, event.get("schemaURL", ""), known, "event")
    for where, facet in facets(event):
        problems += _errors(facet, facet.get("_schemaURL", ""), known, where)
    if problems:
        raise AssertionError(f"invalid OpenLineage event {event.get('eventType')} of job "
                             f"{event.get('job', {}).get('name')!r}:\n  " + "\n  ".join(problems))


def _errors(instance: dict[str, Any], url: str, known: Registry, where: str) -> list[str]:
    base = url.split("#", 1)[0]
    if not base or base not in known:
        return [f"{where}: no schema for {url!r}"]
    validator = Draft202012Validator({"$ref": url}, registry=known, format_checker=_FORMATS)
    return [f"{where}: {'/'.join(map(str, error.absolute_path))}: {error.message}"
            for error in validator.iter_errors(instance)]


def facets(event: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every facet of ``event`` with where it sits (``run.parent``, ``outputs[0].schema``)."""
    yield from _named("run", event.get("run", {}).get("facets"))
    yield from _named("job", event.get("job", {}).get("facets"))
    for side, key in (("inputs", "inputFacets"), ("outputs", "outputFacets")):
        for index, dataset in enumerate(event.get(side) or []):
            yield from _named(f"{side}[{index}]", dataset.get("facets"))
            yield from _named(f"{side}[{index}]", dataset.get(key))


def _named(prefix: str, found: dict[str, Any] | None) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, facet in (found or {}).items():
        yield f"{prefix}.{name}", facet


def read_events(path: Path) -> list[dict[str, Any]]:
    """The events the file transport (``append: true``) wrote to ``path``, one per line."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def clear_lineage_config(monkeypatch: Any, home: Path) -> None:
    """No OpenLineage configuration from the machine: no variables, no ``openlineage.yml``
    (the client also looks in ``$HOME``, here ``home``)."""
    for name in list(os.environ):
        if name.startswith(("OPENLINEAGE", "DFF_LINEAGE")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(home))


def file_transport(path: Path) -> dict[str, str]:
    """Environment variables that send events to ``path`` (one JSON event per line)."""
    return {"OPENLINEAGE__TRANSPORT__TYPE": "file",
            "OPENLINEAGE__TRANSPORT__LOG_FILE_PATH": str(path),
            "OPENLINEAGE__TRANSPORT__APPEND": "true"}


def by_job(events: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Events grouped by job name, each group in event-time order."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for event in sorted(events, key=lambda e: e["eventTime"]):
        grouped.setdefault(event["job"]["name"], []).append(event)
    return grouped


def step_parents(events: Iterable[dict[str, Any]], flows: Iterable[str],
                 factory: str = "world") -> dict[str, list[dict[str, Any]]]:
    """The parent facets of each flow's step events, after checking that the flow emitted
    START then COMPLETE and that every one of those events is valid."""
    jobs = by_job(events)
    parents: dict[str, list[dict[str, Any]]] = {}
    for flow in flows:
        steps = jobs[f"{factory}.{flow}"]
        assert [event["eventType"] for event in steps] == ["START", "COMPLETE"], flow
        for event in steps:
            validate_event(event)
        parents[flow] = [event["run"]["facets"]["parent"] for event in steps]
    return parents


class Receiver:
    """An OpenLineage HTTP endpoint on 127.0.0.1: collects the events POSTed to
    ``/api/v1/lineage`` (the client's default endpoint) while the block runs."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server's name for the POST handler
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    receiver.paths.append(self.path)
                    receiver.events.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:  # quiet test output
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, name="ol-receiver",
                                        daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)
