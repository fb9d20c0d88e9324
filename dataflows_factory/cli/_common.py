"""What every ``dff`` command shares: the consoles, the error contract, the common options."""

from __future__ import annotations

import functools
import signal
import sys
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.text import Text

from ..errors import FactoryError, FlowExecutionError
from ..store import redact

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_TARGET = "factory.py"
# Nothing printed is read as rich markup: flow names, partition labels (``sales[raw/a.csv]``),
# descriptions, values and messages are shown as they are; styles come from Text objects.
console = Console(markup=False)
errors = Console(stderr=True, markup=False)


def handle_errors(command: F) -> F:
    """Turn library errors into one clear line and the contract's exit code."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = debug_enabled()
        try:
            return command(*args, **kwargs)
        except FactoryError as error:
            if debug:
                _print_traceback(error)
            kind = "" if isinstance(error, FlowExecutionError) else f"{type(error).__name__}: "
            error_line(f"{kind}{error}")
            sys.exit(1 if isinstance(error, FlowExecutionError) else 2)
        except click.UsageError as error:  # a wrong argument: the message says it all
            error_line(f"UsageError: {error.format_message()}")
            sys.exit(2)
        except Exception as error:  # an error in the user's factory file while importing it
            if debug:
                _print_traceback(error)
            hint = "" if debug else " (run with --debug for the traceback)"
            error_line(f"{type(error).__name__}: {error}{hint}")
            sys.exit(2)
        except KeyboardInterrupt:  # Ctrl-C outside a run (while the factory is imported)
            error_line("interrupted by SIGINT")
            sys.exit(128 + signal.SIGINT)

    return wrapper  # type: ignore[return-value]


def _print_traceback(error: BaseException) -> None:
    # Not a re-raise: Python would print the traceback, chained causes included, with the
    # credentials their messages and source lines carry. The same text, redacted.
    click.echo(redact("".join(traceback.format_exception(error))).rstrip("\n"), err=True)


def error_line(text: str) -> None:
    # One line, whatever the terminal width (scripts and CI logs grep for it), no markup
    # read from the message, credentials hidden.
    errors.print(Text("error:", style="bold red"), redact(text), highlight=False, soft_wrap=True)


target_argument = click.argument("target", default=DEFAULT_TARGET, metavar="FILE[:ATTR]")
store_option = click.option("--store", metavar="URL", default=None,
                            help="Store folder or fsspec URL (default: $DFF_STORE, the factory's, ./data).")
select_option = click.option("--select", "-s", multiple=True, metavar="EXPR",
                             help="Flows to use: NAME, +NAME (with upstream), NAME+ (with "
                                  "downstream), tag:TAG; repeat or separate with commas.")




def debug_enabled() -> bool:
    """``dff --debug``: full tracebacks, and flows that run in the CLI's own process."""
    return bool(click.get_current_context().find_root().params.get("debug", False))


def log_to_stderr() -> None:
    # The step's own lines (rows, rows/s, warnings) for whoever reads this process's output.
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    package = logging.getLogger("dataflows_factory")
    package.addHandler(handler)
    package.setLevel(logging.INFO)
