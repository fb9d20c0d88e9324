"""Checks for the machine's services the tests need: a missing one fails, never skips."""

from __future__ import annotations

import socket


def require_port(host: str, port: int, what: str) -> None:
    """Fail (never skip) when nothing listens on ``host:port``: the test needs that service."""
    try:
        with socket.create_connection((host, port), timeout=3):
            return
    except OSError as cause:
        raise AssertionError(f"{what} is required at {host}:{port} and is not running: {cause}") from cause
