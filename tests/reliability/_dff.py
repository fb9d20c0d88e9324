"""Run the real ``dff`` CLI in a subprocess, as users and CI scripts do.

:func:`dff` starts a fresh interpreter per call. :class:`Forks` runs many calls for about
a tenth of the cost: one interpreter imports the CLI (and with it dataflows, most of a
call's 1.5-2 s) once, then forks a child per call, which runs ``dff``'s entry point with the
call's arguments, folder and environment and its output redirected to files. A child is
what a fresh ``dff`` process would be once its imports are done: single-threaded, its own
signals, its own exit code.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

DFF = [sys.executable, "-m", "dataflows_factory.cli"]
BASE_ENV = {"COLUMNS": "80", "NO_COLOR": "1"}


def _environment(env: dict[str, str] | None) -> dict[str, str]:
    full_env = {**os.environ, **BASE_ENV, **(env or {})}
    full_env.pop("DFF_STORE", None)
    return full_env


def dff(*args: str, cwd: Path, env: dict[str, str] | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``dff`` with ``args`` in ``cwd``; returns the completed process (never raises)."""
    return subprocess.run([*DFF, *args], cwd=cwd, env=_environment(env), capture_output=True,
                          text=True, timeout=timeout, check=False)


class Forks:
    """A forking ``dff`` runner: ``forks.dff(*args, cwd=, env=)`` like :func:`dff`.

    One call at a time per instance (calls of one instance are serialised); use one per
    thread for parallel calls. Close it (or use it as a context manager) to stop the server.
    """

    def __init__(self) -> None:
        self._server = subprocess.Popen(
            [sys.executable, __file__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            env=_environment(None), text=True)
        self._lock = threading.Lock()
        self._scratch = tempfile.TemporaryDirectory(prefix="dff-forks-")

    def dff(self, *args: str, cwd: Path, env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
        with self._lock:
            out = os.path.join(self._scratch.name, "stdout")
            err = os.path.join(self._scratch.name, "stderr")
            request = {"args": list(args), "cwd": str(cwd), "env": _environment(env),
                       "stdout": out, "stderr": err, "timeout": timeout}
            assert self._server.stdin is not None and self._server.stdout is not None
            self._server.stdin.write(json.dumps(request) + "\n")
            self._server.stdin.flush()
            answer = self._server.stdout.readline()
            if not answer:
                raise RuntimeError(f"the dff fork server died (exit {self._server.wait()})")
            code = json.loads(answer)["code"]
            return subprocess.CompletedProcess(
                ["dff", *args], code, Path(out).read_text(errors="replace"),
                Path(err).read_text(errors="replace"))

    def close(self) -> None:
        if self._server.stdin is not None:
            self._server.stdin.close()
        self._server.wait(timeout=30)
        self._scratch.cleanup()

    def __enter__(self) -> Forks:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _child(request: dict[str, Any], main: Any) -> None:
    code = 1
    try:
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
            target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(target, fd)
            os.close(target)
        sys.argv = ["dff", *request["args"]]
        try:
            main(request["args"], prog_name="dff")
            code = 0
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        except BaseException:  # what the interpreter would print for an uncaught error
            import traceback

            traceback.print_exc()
            code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)


def _wait(pid: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return -signal.SIGKILL
        time.sleep(0.01)


def _serve() -> None:
    from dataflows_factory.cli import main  # imports dataflows once, for every child

    for line in sys.stdin:
        request = json.loads(line)
        sys.stdout.flush()  # nothing buffered for a child to inherit
        pid = os.fork()
        if pid == 0:
            _child(request, main)
        code = _wait(pid, float(request["timeout"]))
        sys.stdout.write(json.dumps({"code": code}) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    _serve()
