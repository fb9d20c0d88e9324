"""What one step run produced: :class:`StepResult`, its statuses, run ids, timestamps.

Small and JSON-serialisable: orchestrators pass results around (XCom, task results, asset
metadata, run manifests), never rows.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from .._secrets import redact, redact_value

__all__ = ["FAILED", "SKIPPED", "SUCCEEDED", "StepResult", "new_run_id", "now", "result_of"]

SUCCEEDED, SKIPPED, FAILED = "succeeded", "skipped", "failed"


@dataclass(frozen=True)
class StepResult:
    """What one flow run produced: where, how much, what shape, how long; never rows."""

    factory: str
    flow: str
    status: str
    dataset_uri: str
    rows: dict[str, int] = field(default_factory=dict)
    schema: dict[str, Any] = field(default_factory=dict)
    bytes: int = 0
    content_hash: str = ""
    fingerprint: str = ""
    duration: float = 0.0
    started_at: str = ""
    finished_at: str = ""
    run_id: str = ""
    attempt: int = 1
    error: dict[str, Any] | None = None
    partition: str | None = None
    # Per resource: short source rows padded with nulls, and rows whose extra cells were
    # dropped (only with load(..., extra_cells="drop")); empty when every row fitted.
    padded_rows: dict[str, int] = field(default_factory=dict)
    truncated_rows: dict[str, int] = field(default_factory=dict)

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    def to_dict(self) -> dict[str, Any]:
        # Whole-value: what leaves as XCom, a task result or a manifest holds no credential,
        # whichever field (a schema's description, an error's message) carried one.
        return redact_value(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StepResult:
        return cls(**data)


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")



def result_of(
    factory: str, flow: str, status: str, uri: str, descriptor: dict[str, Any], print_: str,
    started: str, clock: float, run_id: str, attempt: int, partition: str | None = None,
) -> StepResult:
    resources = descriptor.get("resources", [])
    return StepResult(
        factory=factory,
        flow=flow,
        status=status,
        dataset_uri=redact(uri),
        rows={r["name"]: int(r.get("count_of_rows") or 0) for r in resources},
        schema=redact_value({r["name"]: r.get("schema", {}) for r in resources}),
        bytes=sum(int(r.get("bytes") or 0) for r in resources),
        content_hash=descriptor.get("dff", {}).get("content_hash", ""),
        fingerprint=print_,
        duration=round(time.perf_counter() - clock, 4),
        started_at=started,
        finished_at=now(),
        run_id=run_id,
        attempt=attempt,
        partition=partition,
        padded_rows=dict(descriptor.get("dff", {}).get("padded_rows", {})),
        truncated_rows=dict(descriptor.get("dff", {}).get("truncated_rows", {})),
    )
