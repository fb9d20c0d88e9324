"""Run the real ``dff`` CLI in a subprocess, as users and CI scripts do."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

DFF = [sys.executable, "-m", "dataflows_factory.cli"]


def dff(*args: str, cwd: Path, env: dict[str, str] | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``dff`` with ``args`` in ``cwd``; returns the completed process (never raises)."""
    full_env = {**os.environ, "COLUMNS": "80", "NO_COLOR": "1", **(env or {})}
    full_env.pop("DFF_STORE", None)
    return subprocess.run([*DFF, *args], cwd=cwd, env=full_env, capture_output=True, text=True,
                          timeout=timeout, check=False)
