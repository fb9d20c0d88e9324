"""The factory graph as an inline SVG, laid out here in Python (no JS layout, no CDN).

Layers are longest paths from the sources, left to right; within a layer flows are ordered
by the mean position of their upstream flows (one pass, ties by name), which keeps most
edges straight. Data inputs are solid edges, ``after=`` dependencies dashed; every node is
a link to its flow's page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

__all__ = ["layers", "render_svg"]

CHAR_WIDTH = 7.8  # px per character of the 13px monospace label
NODE_HEIGHT = 34
LAYER_GAP = 70
ROW_GAP = 22
MARGIN = 16


@dataclass(frozen=True)
class _Box:
    x: float
    y: float
    width: float


def layers(names: Sequence[str], edges: Sequence[dict[str, Any]]) -> list[list[str]]:
    """Flows grouped by longest-path depth; ``names`` must be in topological order."""
    upstream: dict[str, list[str]] = {name: [] for name in names}
    for edge in edges:
        upstream[edge["to"]].append(edge["from"])
    depth: dict[str, int] = {}
    for name in names:  # topological order: every upstream flow has its depth already
        depth[name] = 1 + max((depth[up] for up in upstream[name]), default=-1)
    grouped: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    position: dict[str, float] = {}
    for level, members in enumerate(grouped):
        members.extend(name for name in names if depth[name] == level)

        def barycenter(name: str) -> tuple[float, str]:
            ups = [position[up] for up in upstream[name]]
            return (sum(ups) / len(ups) if ups else 0.0, name)

        members.sort(key=barycenter)
        position.update({name: float(index) for index, name in enumerate(members)})
    return grouped


def render_svg(names: Sequence[str], edges: Sequence[dict[str, Any]], statuses: dict[str, str],
               href: str = "flows/{name}.html") -> str:
    """The SVG markup: one ``<a class="node" data-flow=NAME>`` per flow, one path per edge."""
    grouped = layers(names, edges)
    width = max((len(name) for name in names), default=4) * CHAR_WIDTH + 24
    tallest = max((len(members) for members in grouped), default=0)
    total_height = max(tallest * (NODE_HEIGHT + ROW_GAP) - ROW_GAP, NODE_HEIGHT) + 2 * MARGIN
    boxes: dict[str, _Box] = {}
    for level, members in enumerate(grouped):
        offset = (total_height - 2 * MARGIN - (len(members) * (NODE_HEIGHT + ROW_GAP) - ROW_GAP)) / 2
        for index, name in enumerate(members):
            boxes[name] = _Box(MARGIN + level * (width + LAYER_GAP),
                               MARGIN + offset + index * (NODE_HEIGHT + ROW_GAP), width)
    total_width = 2 * MARGIN + len(grouped) * (width + LAYER_GAP) - LAYER_GAP
    parts = [
        f'<svg class="graph" xmlns="http://www.w3.org/2000/svg" width="{total_width:.0f}" '
        f'height="{total_height:.0f}" viewBox="0 0 {total_width:.0f} {total_height:.0f}" '
        'role="img" aria-label="factory graph">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z"/></marker></defs>',
    ]
    parts += [_edge(boxes[e["from"]], boxes[e["to"]], e) for e in edges]
    parts += [_node(name, boxes[name], statuses.get(name, ""), href) for name in names]
    parts.append("</svg>")
    return "\n".join(parts)


def _edge(source: _Box, target: _Box, edge: dict[str, Any]) -> str:
    x1, y1 = source.x + source.width, source.y + NODE_HEIGHT / 2
    x2, y2 = target.x, target.y + NODE_HEIGHT / 2
    bend = (x2 - x1) / 2
    kind = "data" if edge["kind"] == "data" else "after"
    return (f'<path class="edge edge-{kind}" data-from="{escape(edge["from"])}" '
            f'data-to="{escape(edge["to"])}" marker-end="url(#arrow)" '
            f'd="M {x1:.1f} {y1:.1f} C {x1 + bend:.1f} {y1:.1f}, {x2 - bend:.1f} {y2:.1f}, '
            f'{x2:.1f} {y2:.1f}"/>')


def _node(name: str, box: _Box, status: str, href: str) -> str:
    state = status.replace(" ", "-") or "unknown"
    link = escape(href.format(name=name))
    return (f'<a class="node status-{escape(state)}" data-flow="{escape(name)}" href="{link}">'
            f'<title>{escape(name)}: {escape(status)}</title>'
            f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{box.width:.1f}" height="{NODE_HEIGHT}" '
            f'rx="6"/><text x="{box.x + box.width / 2:.1f}" y="{box.y + NODE_HEIGHT / 2 + 4:.1f}" '
            f'text-anchor="middle">{escape(name)}</text></a>')
