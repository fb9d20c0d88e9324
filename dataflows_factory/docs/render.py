"""HTML pages of the docs site, from the model of :mod:`.model` (every value escaped here)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

from .graph import render_svg
from .search import anchor, search_index

__all__ = ["flow_page", "index_page"]


def _page(title: str, factory: str, body: str, root: str) -> str:
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n"
        f'<link rel="stylesheet" href="{root}assets/site.css">\n</head>\n<body>\n'
        f'<header><a href="{root}index.html">{escape(factory)}</a> '
        '<span class="muted">\u00b7 dataflows-factory docs</span></header>\n'
        f"<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


def _json_script(element_id: str, value: Any) -> str:
    # "</script>" or "<!--" inside a string would end the element early: <, > and & travel
    # as JSON escapes, which JSON.parse reads back as the same characters.
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script type="application/json" id="{element_id}">{text}</script>'


def _status(status: str) -> str:
    return f'<span class="status status-{escape(status.replace(" ", "-"))}">{escape(status)}</span>'


def _table(css: str, headers: Sequence[str], rows: Iterable[str]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    return (f'<div class="scroll"><table class="{css}"><thead><tr>{head}</tr></thead>'
            f"<tbody>\n{''.join(rows)}</tbody></table></div>")


def _number(value: int | None) -> str:
    return "" if value is None else f"{value:,}"


def index_page(model: dict[str, Any]) -> str:
    """index.html: the factory, its graph, its flows and the search box."""
    factory = model["factory"]
    flows = model["flows"]
    statuses = {flow["name"]: flow["status"] for flow in flows}
    svg = render_svg([flow["name"] for flow in flows], model["edges"], statuses)
    rows = [
        f'<tr data-flow="{escape(f["name"])}"><td><a href="flows/{escape(f["name"])}.html">'
        f'{escape(f["name"])}</a></td><td>{escape(f["summary"])}</td>'
        f'<td class="num">{_number(f["rows"])}</td><td>{_status(f["status"])}</td></tr>\n'
        for f in flows
    ]
    body = (
        f'<h1>factory {escape(factory["name"])}</h1>\n'
        + (f'<p class="description">{escape(factory["description"])}</p>\n'
           if factory["description"] else "")
        + f'<p>store <code>{escape(factory["store"])}</code> \u00b7 '
        f'<span id="flow-count">{factory["flows"]}</span> flows</p>\n'
        '<h2>Graph</h2>\n<div class="graph-box">' + svg + "</div>\n"
        '<p class="legend">solid: data input \u00b7 dashed: order only (<code>after=</code>) '
        "\u00b7 click a flow to open it</p>\n"
        '<h2>Search</h2>\n<input id="search" type="search" autocomplete="off" '
        'placeholder="flow, field or type">\n<ul id="search-results"></ul>\n'
        + _json_script("search-index", search_index(model))
        + "\n<h2>Flows</h2>\n"
        + _table("flows", ["flow", "description", "rows", "last run"], rows)
        + '\n<script src="assets/site.js"></script>'
    )
    return _page(f"{factory['name']} \u00b7 docs", factory["name"], body, "")


def _links(items: list[dict[str, Any]]) -> str:
    if not items:
        return '<span class="muted">none</span>'
    return ", ".join(
        f'<a class="flow-link" href="{escape(i["name"])}.html">{escape(i["name"])}</a>' if i["linked"]
        else f'<span class="flow-link">{escape(i["name"])}</span>' for i in items)


def _facts(flow: dict[str, Any]) -> str:
    code = flow["code"]
    where = f'<code>{escape(code["file"])}:{code["line"]}</code>' if code else \
        '<span class="muted">unknown (no source file)</span>'
    partitions = ", ".join(f"<code>{escape(p)}</code>" for p in flow["partitions"]) or (
        f'<span class="error">{escape(flow["partitions_error"])}</span>'
        if flow["partitions_error"] else '<span class="muted">none</span>')
    facts = [
        ("code", where),
        ("upstream", _links(flow["inputs"])),
        ("after", _links(flow["after"])),
        ("downstream", _links(flow["downstream"])),
        ("tags", ", ".join(escape(t) for t in flow["tags"]) or '<span class="muted">none</span>'),
        ("retries", str(flow["retries"])),
        ("partitions", partitions),
    ]
    return '<table class="facts">' + "".join(
        f'<tr data-fact="{name}"><th>{name}</th><td>{value}</td></tr>' for name, value in facts
    ) + "</table>"


def _dataset(flow: dict[str, Any]) -> str:
    dataset = flow["dataset"]
    if dataset is None:
        return '<h2>Dataset</h2>\n<p class="not-produced">not produced yet</p>'
    validation = flow["validation"]
    checked = _status(validation["status"]) + "".join(
        f'<div class="error problem">{escape(p)}</div>' for p in validation["problems"]
    ) if validation else '<span class="muted">not checked</span>'
    facts = [
        ("location", f'<code>{escape(dataset["url"])}</code>'),
        ("rows", _number(dataset["rows"])),
        ("bytes", _number(dataset["bytes"])),
        ("fingerprint", f'<code>{escape(dataset["fingerprint"])}</code>'),
        ("content hash", f'<code>{escape(dataset["content_hash"])}</code>'),
        ("produced", f'{escape(dataset["produced_at"])} by run <code>{escape(dataset["run_id"])}</code>'),
        ("validation", checked),
    ]
    table = '<table class="facts dataset">' + "".join(
        f'<tr data-fact="{escape(name)}"><th>{escape(name)}</th><td>{value}</td></tr>'
        for name, value in facts) + "</table>"
    return "<h2>Dataset</h2>\n" + table + "\n" + "\n".join(_resource(r) for r in dataset["resources"])


def _resource(resource: dict[str, Any]) -> str:
    name = resource["name"]
    schema = [
        f'<tr id="{anchor("field", name, f["name"])}" data-field="{escape(f["name"])}">'
        f'<td>{escape(f["name"])}</td><td>{escape(f["type"])}</td><td>{escape(f["format"])}</td>'
        f'<td>{escape(f["constraints"])}</td></tr>\n' for f in resource["fields"]
    ]
    preview = resource["preview"]
    cells = ["<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>\n" for row in preview["rows"]]
    stopped = f'<p class="error">preview stopped: {escape(preview["error"])}</p>' if preview["error"] else ""
    return (
        f'<section class="resource" id="{anchor("resource", name)}" data-resource="{escape(name)}">'
        f'<h3>resource {escape(name)}</h3>\n<p class="muted">{_number(resource["rows"])} rows \u00b7 '
        f'{_number(resource["bytes"])} bytes \u00b7 <code>{escape(resource["path"])}</code></p>\n'
        + _table("schema", ["field", "type", "format", "constraints"], schema)
        + f'\n<p class="muted">first {len(preview["rows"])} rows</p>\n'
        + _table("preview", preview["columns"], cells) + stopped + "</section>"
    )


def _runs(flow: dict[str, Any]) -> str:
    if not flow["runs"]:
        return '<h2>Runs</h2>\n<p class="muted no-runs">no run recorded in the store</p>'
    partitioned = any(r["partitions"] for r in flow["runs"])
    rows = [
        f'<tr data-run="{escape(r["run_id"])}"><td><code>{escape(r["run_id"])}</code></td>'
        f'<td>{_status(r["status"])}</td><td>{escape(r["started_at"])}</td>'
        f'<td class="num">{r["duration"]:.2f}s</td><td class="num">{r["attempt"]}</td>'
        f'<td class="num">{_number(r["rows"])}</td>'
        + (f'<td class="parts">{escape(r["partitions"])}</td>' if partitioned else "")
        + f'<td class="error">{escape(r["error"])}</td></tr>\n'
        for r in flow["runs"]
    ]
    headers = ["run", "status", "started", "duration", "attempt", "rows",
               *(["partitions"] if partitioned else []), "error"]
    return "<h2>Runs</h2>\n" + _table("runs", headers, rows)


def flow_page(model: dict[str, Any], flow: dict[str, Any]) -> str:
    """flows/NAME.html: what the flow is, what it produced, and how its last runs went."""
    description = (f'<p class="description">{escape(flow["description"])}</p>' if flow["description"]
                   else '<p class="muted">no description (give the flow function a docstring)</p>')
    body = (
        f'<h1>{escape(flow["name"])} {_status(flow["status"])}</h1>\n{description}\n'
        + _facts(flow) + "\n" + _dataset(flow) + "\n" + _runs(flow)
    )
    return _page(f"{flow['name']} \u00b7 {model['factory']['name']}", model["factory"]["name"], body, "../")
