"""tableschema's schema inference: the same type guesses for every sampled value, made faster.

``Schema.infer`` (every ``load`` of a table without a schema runs it on tabulator's sample)
asks ``_TypeGuesser.cast(value)`` for every cell: it calls each ``cast_<type>`` of
``_INFER_TYPE_ORDER`` (a dozen of them ``datetime.strptime``, which raises for nearly every
cell) and keeps ``(type, format, priority)`` for each that does not return ``config.ERROR``.
:class:`FastTypeGuesser` returns the same guesses in the same order, by two exact means:

- a cell's guesses are a function of its text (and the missing values, fixed for one
  ``infer``): each distinct text is guessed once per ``infer``;
- a cast is skipped only when a check that is *necessary* for it to succeed fails (each
  check in :func:`_necessary_check` says why it is necessary for that very function);
  otherwise the real cast is called, so a passing check never decides a guess by itself.
"""

from __future__ import annotations

import functools
import importlib
import re
import sys
from collections.abc import Callable, Iterable
from typing import Any

from tableschema import config
from tableschema import schema as schema_module
from tableschema import types as types_module
from tableschema.schema import _TypeGuesser

from ._versions import _parse, installed_version, supported

PlainTypeGuesser = _TypeGuesser  # tableschema's own, whatever the module holds later

Guess = tuple[str, str, int]
Check = Callable[[str], object]  # falsy: the cast cannot succeed on this text

# The Pythons whose _strptime._strptime raises unless `format_regex.match(data)` matches up to
# the end of `data`, with format_regex = _TimeRE_cache.compile(format) (read in each).
_STRPTIME_PYTHONS = ((3, 11), (3, 12), (3, 13))
# Directives whose regex is fixed digits (TimeRE's base patterns): no locale, no time zone.
_PLAIN_DIRECTIVES = frozenset("dmYyHMS")
# isodate versions whose parse_duration raises unless the text contains "P" (read in 0.7.2).
_ISODATE = ((0, 7), (0, 8))

_HAS_DIGIT = re.compile(r"\d").search  # \d as in cast_integer's _RE_BARE_NUMBER (Unicode)


class FastTypeGuesser(_TypeGuesser):  # type: ignore[misc]
    """tableschema's ``_TypeGuesser`` with the same guesses, in the same order, for every value.

    ``Schema.infer`` builds one per call (``_TypeGuesser(missing_values)``) and extends its
    column's list with ``cast(value)``; values that are not exactly ``str`` take
    tableschema's own path::

        guesser = FastTypeGuesser([""])
        list(guesser.cast("2021-02-03"))
        # [('date', '%Y-%m-%d', 7), ('string', 'default', 11), ('any', 'default', 12)]
    """

    def __init__(self, missing_values: Any) -> None:
        super().__init__(missing_values)
        # Read at each infer, as tableschema reads the order and the casts at each cast().
        self._steps = _steps()
        self._guessed: dict[str, tuple[Guess, ...]] = {}

    def cast(self, value: Any) -> Iterable[Guess]:
        """The ``(type, format, priority)`` guesses for ``value``, as ``_TypeGuesser.cast``."""
        # Only exact str: equal keys of other types (1 == 1.0 == True) guess differently.
        if type(value) is not str:
            return super().cast(value)  # type: ignore[no-any-return]
        guesses = self._guessed.get(value)
        if guesses is None:
            guesses = self._guessed[value] = self._guess(value)
        return guesses

    def _guess(self, value: str) -> tuple[Guess, ...]:
        # tableschema tests `value not in missing_values` before each type: the same answer.
        if value in self.missing_values:
            return ()
        error = config.ERROR
        guesses = []
        for name, format, priority, cast, check in self._steps:
            if (check is None or check(value)) and cast(format, value) != error:
                guesses.append((name, format, priority))
        return tuple(guesses)


_Step = tuple[str, str, int, Callable[..., Any], Check | None]


def _steps() -> tuple[_Step, ...]:
    """``(type, format, priority, cast, check)`` in the order ``_TypeGuesser.cast`` tries them."""
    steps = []
    for priority, type_rec in enumerate(schema_module._INFER_TYPE_ORDER):
        name, formats = type_rec if isinstance(type_rec, tuple) else (type_rec, ["default"])
        cast = getattr(types_module, f"cast_{name}")
        for format in formats:
            steps.append((name, format, priority, cast, _necessary_check(name, format, cast)))
    return tuple(steps)


@functools.cache
def _library_cast(name: str) -> Any:
    """tableschema's own ``cast_<name>``, from the module that defines it (patches aside)."""
    try:
        return getattr(importlib.import_module(f"tableschema.types.{name}"), f"cast_{name}")
    except (ImportError, AttributeError):
        return None


def _necessary_check(name: str, format: str, cast: Any) -> Check | None:
    """A check that every ``str`` on which ``cast(format, value)`` succeeds passes, or
    ``None`` (always call the cast). Each reason below is read in tableschema 1.21's cast."""
    if cast is not _library_cast(name):
        return None  # someone else's cast: nothing is known about it
    if name in ("object", "geojson"):
        # json.loads(value) must return a dict: a JSON object, whose text has a "{".
        return lambda value: "{" in value
    if name == "array":
        # json.loads(value) must return a list (a str is never a tuple): its text has a "[".
        return lambda value: "[" in value
    if name == "geopoint" and format == "default":
        # `lon, lat = value.split(',')` unpacks exactly two parts: exactly one comma.
        return lambda value: value.count(",") == 1
    if name == "integer":
        # bareNumber (default True) removes leading and trailing \D runs; with no \d left,
        # int('') raises.
        return _HAS_DIGIT
    if name == "duration" and _isodate_verified():
        # parse_duration matches its regex (a literal "P") or requires startswith("P").
        return lambda value: "P" in value
    pattern = _strptime_format(name, format)
    return None if pattern is None else _strptime_check(pattern)


def _strptime_format(name: str, format: str) -> str | None:
    """The format ``cast_<name>(format, value)`` hands ``datetime.strptime``, if it does."""
    if name not in ("date", "datetime", "time") or format == "any" or format.startswith("fmt:"):
        return None
    if format == "default":
        return str(importlib.import_module(f"tableschema.types.{name}")._DEFAULT_PATTERN)
    return format


def _strptime_check(pattern: str) -> Check | None:
    """The regex ``_strptime`` matches ``pattern``'s texts with (its ``fullmatch``), or
    ``None`` when this Python or the pattern's directives were not verified."""
    if sys.version_info[:2] not in _STRPTIME_PYTHONS:
        return None
    if not set(re.findall(r"%(.)", pattern)) <= _PLAIN_DIRECTIVES:
        return None  # names, AM/PM, time zones: regexes that follow the locale; always call
    import _strptime  # type: ignore[import-not-found]

    # _strptime raises unless format_regex.match(data) ends at len(data): if even fullmatch
    # (which may try other alternatives) fails, no match ends there. The regex of a pattern of
    # plain directives is the same whatever the locale (TimeRE's base patterns).
    with _strptime._cache_lock:
        regex = _strptime._regex_cache.get(pattern) or _strptime._TimeRE_cache.compile(pattern)
    return regex.fullmatch  # type: ignore[no-any-return]


@functools.cache
def _isodate_verified() -> bool:
    version = _parse(installed_version("isodate"))
    return version is not None and _ISODATE[0] <= version < _ISODATE[1]


@functools.cache
def guess_types_faster() -> None:
    """From now on, ``Schema.infer`` guesses with :class:`FastTypeGuesser` (the same schema;
    inference of the benchmarks' 1,000-row sample took 7x less time); only on supported
    library versions, once per process."""
    if not supported():
        return
    # Schema.infer builds `_TypeGuesser(missing_values)` from its module's globals when no
    # guesser_cls is given (dataflows' load passes None for its default infer strategy).
    schema_module._TypeGuesser = FastTypeGuesser
