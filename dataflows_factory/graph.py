"""Render a plan as text, mermaid or Graphviz dot."""

from __future__ import annotations

from .adapters.plan import Plan

__all__ = ["render"]


def render(plan: Plan, fmt: str = "text") -> str:
    if fmt == "mermaid":
        return _mermaid(plan)
    if fmt == "dot":
        return _dot(plan)
    if fmt == "text":
        return _text(plan)
    raise ValueError(f"unknown graph format {fmt!r}; use text, mermaid or dot")


def _mermaid(plan: Plan) -> str:
    lines = ["graph TD"]
    for step in plan.steps:
        label = step.name + (f"<br/><i>{', '.join(step.tags)}</i>" if step.tags else "")
        lines.append(f'    {step.name}["{label}"]')
    names = set(plan.names)
    for step in plan.steps:
        for up in step.inputs:
            if up in names:
                lines.append(f"    {up} --> {step.name}")
        for up in step.after:
            if up in names and up not in step.inputs:
                lines.append(f"    {up} -.-> {step.name}")
    return "\n".join(lines)


def _dot(plan: Plan) -> str:
    lines = [f'digraph "{plan.factory}" {{', "    rankdir=LR;", "    node [shape=box];"]
    names = set(plan.names)
    for step in plan.steps:
        lines.append(f'    "{step.name}";')
    for step in plan.steps:
        for up in step.inputs:
            if up in names:
                lines.append(f'    "{up}" -> "{step.name}";')
        for up in step.after:
            if up in names and up not in step.inputs:
                lines.append(f'    "{up}" -> "{step.name}" [style=dashed];')
    lines.append("}")
    return "\n".join(lines)


def _text(plan: Plan) -> str:
    """A tree: each flow under its first upstream; extra parents noted in brackets."""
    names = set(plan.names)
    children: dict[str, list[str]] = {name: [] for name in plan.names}
    roots: list[str] = []
    for step in plan.steps:
        parents = [up for up in step.upstream if up in names]
        if parents:
            children[parents[0]].append(step.name)
        else:
            roots.append(step.name)
    lines = [f"factory {plan.factory}"]

    def walk(name: str, prefix: str, last: bool) -> None:
        step = plan.step(name)
        extra = [up for up in step.upstream if up in names][1:]
        note = f"  (also after: {', '.join(extra)})" if extra else ""
        order_only = [a for a in step.after if a not in step.inputs]
        if order_only:
            note += f"  [order only: {', '.join(order_only)}]"
        if step.partitions:
            note = f"  ({len(step.partitions)} partitions)" + note
        elif step.partitions_error:  # it fails when it runs; the graph still shows it
            note = "  (no partitions: its files() pattern matches no file)" + note
        lines.append(f"{prefix}{'└── ' if last else '├── '}{name}{note}")
        kids = children[name]
        for index, kid in enumerate(kids):
            walk(kid, prefix + ("    " if last else "│   "), index == len(kids) - 1)

    for index, root in enumerate(roots):
        walk(root, "", index == len(roots) - 1)
    return "\n".join(lines)
