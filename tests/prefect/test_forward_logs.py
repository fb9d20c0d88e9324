"""Task runs of one process each get their own thread's log records, even as parallel ones end."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from typing import Any

from dataflows_factory.prefect_blocks.tasks import _forward_logs

PACKAGE = logging.getLogger("dataflows_factory")
STEP = logging.getLogger("dataflows_factory.adapters.step")
WAIT = 10.0  # seconds; only reached if the code under test deadlocks


class _Target:
    """Stands in for a task run's logger: keeps the messages it is given."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def log(self, level: int, message: str) -> None:
        self.messages.append(message)


class _Pause(logging.Handler):
    """A slow handler on the package logger: holds the records of one flow until told to go on."""

    def __init__(self, flow: str, reached: threading.Event, go_on: threading.Event) -> None:
        super().__init__()
        self.flow, self.reached, self.go_on = flow, reached, go_on

    def emit(self, record: logging.LogRecord) -> None:
        if f"flow {self.flow!r}" in record.getMessage():
            self.reached.set()
            self.go_on.wait(WAIT)


def _in_thread(body: Callable[[], None]) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            body()
        except BaseException as error:  # reported by the test, not lost in the thread
            errors.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, errors


def _wait(event: threading.Event, what: str) -> None:
    if not event.wait(WAIT):
        raise AssertionError(f"timed out waiting until {what}")


def test_a_record_logged_while_a_parallel_task_stops_forwarding_reaches_its_task() -> None:
    """``right``'s last line, met by a slow handler while ``left``'s task ends, still reaches ``right``."""
    left, right = _Target(), _Target()
    left_in, left_may_end, left_ended = threading.Event(), threading.Event(), threading.Event()
    right_in, right_may_log = threading.Event(), threading.Event()
    reached, go_on = threading.Event(), threading.Event()

    def run_left() -> None:
        with _forward_logs(left):
            STEP.info("flow 'left' done: 1 rows")
            left_in.set()
            _wait(left_may_end, "right is forwarding too")
        left_ended.set()

    def run_right() -> None:
        with _forward_logs(right):
            right_in.set()
            _wait(right_may_log, "the slow handler is in place")
            STEP.info("flow 'right' done: 1 rows")

    left_thread, left_errors = _in_thread(run_left)
    _wait(left_in, "left is forwarding")
    # A handler of the package logger added between the two tasks' (a user's, Prefect's)
    # takes a moment with right's record, and left's task run ends meanwhile.
    pause = _Pause("right", reached, go_on)
    PACKAGE.addHandler(pause)
    try:
        right_thread, right_errors = _in_thread(run_right)
        _wait(right_in, "right is forwarding")
        right_may_log.set()
        _wait(reached, "right's record is being handled")
        left_may_end.set()
        _wait(left_ended, "left stopped forwarding")
        go_on.set()
        left_thread.join(WAIT)
        right_thread.join(WAIT)
    finally:
        go_on.set()
        PACKAGE.removeHandler(pause)

    assert not left_errors and not right_errors, left_errors + right_errors
    assert left.messages == ["flow 'left' done: 1 rows"]
    assert right.messages == ["flow 'right' done: 1 rows"]


def test_each_thread_forwards_only_its_own_records_and_nothing_after_its_block() -> None:
    """Two forwarding threads see their own lines only; a line after a block reaches no task."""
    targets: dict[str, _Target] = {"left": _Target(), "right": _Target()}
    both_in = threading.Barrier(2, timeout=WAIT)

    def run(name: str) -> Any:
        def body() -> None:
            with _forward_logs(targets[name]):
                both_in.wait()
                for line in range(3):
                    STEP.info("flow %r line %d", name, line)
                both_in.wait()
            STEP.info("flow %r after its task", name)
        return body

    started = [_in_thread(run(name)) for name in targets]
    for thread, _errors in started:
        thread.join(WAIT)

    assert not [error for _thread, errors in started for error in errors]
    for name, target in targets.items():
        assert target.messages == [f"flow {name!r} line {line}" for line in range(3)]


def test_parallel_tasks_ending_together_never_lose_their_last_line() -> None:
    """Many rounds of two tasks that log their last line and end at once: every line arrives."""
    lost: list[str] = []
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # threads take turns often: the race had a chance each round
    try:
        for _ in range(300):
            targets = {"left": _Target(), "right": _Target()}
            together = threading.Barrier(2, timeout=WAIT)

            def body(name: str, targets: dict[str, _Target] = targets,
                     together: threading.Barrier = together) -> None:
                with _forward_logs(targets[name]):
                    together.wait()
                    STEP.info("flow %r done: 1 rows", name)

            threads = [threading.Thread(target=body, args=(name,), daemon=True) for name in targets]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(WAIT)
            lost += [name for name, target in targets.items()
                     if target.messages != [f"flow {name!r} done: 1 rows"]]
    finally:
        sys.setswitchinterval(switch)

    assert lost == []
