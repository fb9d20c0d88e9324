"""The search index of the docs site: one entry per flow and per field of its datasets."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["anchor", "search_index"]

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def anchor(kind: str, *names: str) -> str:
    """An HTML id for a resource or a field: any name, made of safe characters, unique.

    >>> anchor("field", "cities", "city name")
    'field-cities-city.20name'
    """
    return "-".join([kind, *(_UNSAFE.sub(lambda m: f".{ord(m.group()):x}", name) for name in names)])


def search_index(model: dict[str, Any]) -> list[dict[str, str]]:
    """Entries ``kind, label, detail, flow, href, terms`` (``terms``: lower-case text the
    search box matches every typed word against), flows first, then fields, each sorted."""
    flows: list[dict[str, str]] = []
    fields: list[dict[str, str]] = []
    for flow in model["flows"]:
        name = flow["name"]
        href = f"flows/{name}.html"
        flows.append(_entry("flow", name, flow["summary"], name, href,
                            [name, *flow["tags"], flow["summary"]]))
        for resource in (flow["dataset"] or {}).get("resources", []):
            for field in resource["fields"]:
                detail = f"{field['type']} \u00b7 {name}/{resource['name']}"
                fields.append(_entry("field", field["name"], detail, name,
                                     f"{href}#{anchor('field', resource['name'], field['name'])}",
                                     [field["name"], field["type"]]))
    return sorted(flows, key=_order) + sorted(fields, key=_order)


def _entry(kind: str, label: str, detail: str, flow: str, href: str,
           terms: list[str]) -> dict[str, str]:
    return {"kind": kind, "label": label, "detail": detail, "flow": flow, "href": href,
            "terms": " ".join(terms).lower()}


def _order(entry: dict[str, str]) -> tuple[str, str, str]:
    return entry["label"], entry["flow"], entry["href"]
