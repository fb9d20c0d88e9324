"""The last runs of each flow, read from the run manifests in the store's ``_runs/``.

The local runner writes one manifest per run (``runner._write_manifest``: the
:class:`~dataflows_factory.runner.RunReport` as a dict, one
:class:`~dataflows_factory.adapters.results.StepResult` per unit under ``steps``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..store import Store

__all__ = ["MANIFESTS_READ", "RUNS_PER_FLOW", "flow_runs"]

RUNS_PER_FLOW = 10
# Run ids start with their UTC second, so the newest manifests are the last names: reading
# only these keeps a store with years of runs quick to document.
MANIFESTS_READ = 50


def flow_runs(store: Store, factory: str, flows: Iterable[str],
              per_flow: int = RUNS_PER_FLOW) -> dict[str, list[dict[str, Any]]]:
    """``{flow: its last runs, newest first}``; each run is ``run_id, status, started_at,
    duration, attempt, rows, error`` (the one-line error, or "")."""
    wanted = set(flows)
    found: dict[str, list[dict[str, Any]]] = {name: [] for name in sorted(wanted)}
    for manifest in _manifests(store, factory):
        steps = manifest.get("steps")
        if not isinstance(steps, dict):
            continue
        parts: dict[str, list[dict[str, Any]]] = {}
        for result in steps.values():
            # A partitioned flow's parts are units of their own (``sales[raw/a.csv]``); the
            # unit named after the flow is the flow as a whole (its merge).
            if isinstance(result, dict) and result.get("partition") is not None:
                parts.setdefault(str(result.get("flow")), []).append(result)
        for name, result in sorted(steps.items()):
            if name in wanted and isinstance(result, dict) and len(found[name]) < per_flow:
                found[name].append(_run(manifest, result, parts.get(name, [])))
    return found


def _manifests(store: Store, factory: str) -> list[dict[str, Any]]:
    """The newest manifests first (by start time, which has milliseconds; ids have seconds)."""
    base = store.runs_url(factory)
    manifests = []
    for name in store.list_runs(factory)[-MANIFESTS_READ:]:
        manifest = store.read_json(f"{base}/{str(name).rsplit('/', 1)[-1]}")
        if isinstance(manifest, dict) and manifest.get("limit") is None:
            manifests.append(manifest)
    manifests.sort(key=lambda m: (str(m.get("started_at", "")), str(m.get("run_id", ""))),
                   reverse=True)
    return manifests


def _run(manifest: dict[str, Any], result: dict[str, Any],
         parts: list[dict[str, Any]]) -> dict[str, Any]:
    status = str(result.get("status", "unknown"))
    text = _error_text(result.get("error"))
    failed = sorted((p for p in parts if p.get("status") == "failed"),
                    key=lambda p: str(p.get("partition")))
    if failed and not text:
        # The merge of a partitioned flow whose part failed is "upstream_failed" and has no
        # error of its own: the flow failed, and the part's error (naming it) says why.
        status, text = "failed", _error_text(failed[0].get("error"))
    ok = sum(1 for p in parts if p.get("status") in ("succeeded", "skipped"))
    summary = f"{ok} of {len(parts)} partitions ok" if parts else ""
    return {
        "run_id": str(manifest.get("run_id", "")),
        "status": status,
        "partitions": summary,
        "started_at": str(result.get("started_at") or manifest.get("started_at", "")),
        "duration": float(result.get("duration") or 0.0),
        "attempt": int(result.get("attempt") or 0),  # 0: never started (upstream failed)
        "rows": sum(int(v or 0) for v in (result.get("rows") or {}).values()),
        "error": text.strip().splitlines()[0] if text.strip() else "",
    }


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        return str(error.get("text") or error.get("message") or "")
    return str(error) if error else ""
